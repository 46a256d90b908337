"""Keyless signatures through the pipeline: sign writes NAME.bundle, publish uploads it, verify checks it.

The signer is the local test Sigstore instance (tests/helpers/sigstore_instance.py)
handed to sign_revision_keyless; the one call into sigstore's own signer
(crio_release.publish.keyless) needs a real Fulcio and Rekor and is not run here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crio_release.cli import cli
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision_keyless
from helpers.publish import make_revision_set
from helpers.sigstore_instance import GITHUB_ISSUER, LocalSigstore

from crio.artifacts import arch_files, manifest_bundle_name, manifest_name, object_path
from crio.cli import run_main
from crio.errors import ExitCode
from crio.manifest import RevisionManifest
from crio.revision import parse_revision

REV = parse_revision("v1.36.2")
IDENTITY = "https://github.com/example/cri-o-release/.github/workflows/release.yml@refs/tags/v1.36.2"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        run_main(cli, list(argv))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(scope="module")
def instance() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def published(tmp_path: Path, instance: LocalSigstore) -> tuple[str, Path]:
    directory = make_revision_set(tmp_path / "dist", REV)
    written = sign_revision_keyless(directory, REV, lambda path: instance.sign(
        path.read_bytes(), IDENTITY, repository="example/cri-o-release", ref="refs/tags/v1.36.2").bundle_v03())
    names = {p.name for p in written}
    for arch in ("amd64", "arm64"):
        assert {arch_files(arch, REV)["bundle"], arch_files(arch, REV)["sbom_bundle"]} <= names
    assert manifest_bundle_name(REV) in names
    manifest = RevisionManifest.from_json((directory / manifest_name(REV)).read_bytes())
    assert {"bundle", "sbom_bundle"} <= {e.role for e in manifest.files}
    bucket = (tmp_path / "bucket")
    bucket.mkdir()
    publish_revision(bucket.as_uri(), REV, directory)
    assert (bucket / object_path(arch_files("arm64", REV)["bundle"])).is_file()
    assert (bucket / object_path(manifest_bundle_name(REV))).is_file()
    root = instance.write_trusted_root(tmp_path / "trusted_root.json")
    return bucket.as_uri(), root


def test_verify_accepts_keyless_bundles_with_the_identity_policy(capsys, published) -> None:
    bucket, root = published
    code, out, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV), "--trusted-root", str(root),
                         "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER,
                         "--certificate-github-workflow-repository", "example/cri-o-release")
    assert code == 0, err
    assert out.strip() == f"{REV}: verified"


def test_verify_refuses_another_identity_and_names_every_bundle(capsys, published) -> None:
    bucket, root = published
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV), "--trusted-root", str(root),
                       "--certificate-identity-regexp", r"https://github\.com/cri-o/.*",
                       "--certificate-oidc-issuer", GITHUB_ISSUER)
    assert code == ExitCode.VERIFY_FAILED
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 5  # two tarballs, two SBOMs, the manifest
    assert all("certificate identity" in line for line in problems)


def test_verify_without_a_policy_reports_bundles_it_cannot_check(capsys, published) -> None:
    bucket, _ = published
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV))
    assert code == ExitCode.VERIFY_FAILED
    assert "no identity policy" in err


def test_verify_against_the_public_good_root_refuses_a_local_signature(capsys, published) -> None:
    bucket, _ = published
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV),
                       "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER)
    assert code == ExitCode.VERIFY_FAILED
    assert "does not verify" in err


def test_a_swapped_bundle_is_refused(capsys, published) -> None:
    from urllib.parse import urlparse

    bucket, root = published
    base = Path(urlparse(bucket).path)
    amd, arm = (base / object_path(arch_files(a, REV)["bundle"]) for a in ("amd64", "arm64"))
    amd.write_bytes(arm.read_bytes())
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV), "--trusted-root", str(root),
                       "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", GITHUB_ISSUER)
    assert code == ExitCode.VERIFY_FAILED
    assert arch_files("amd64", REV)["bundle"] in err


@pytest.mark.parametrize(("argv", "needle"), [
    (["--certificate-identity", IDENTITY], "--certificate-oidc-issuer"),
    (["--certificate-oidc-issuer", GITHUB_ISSUER], "exactly one"),
    (["--certificate-identity-regexp", "(", "--certificate-oidc-issuer", GITHUB_ISSUER], "regexp"),
])
def test_incomplete_identity_flags_are_usage_errors(capsys, published, argv, needle) -> None:
    bucket, _ = published
    code, _, err = run(capsys, "verify", "--bucket", bucket, "--rev", str(REV), *argv)
    assert code == ExitCode.USAGE and needle in err


def test_sign_keyless_without_an_ambient_credential_fails_before_writing(capsys, tmp_path, monkeypatch) -> None:
    for var in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SIGSTORE_ID_TOKEN",
                "GOOGLE_SERVICE_ACCOUNT_NAME", "BUILDKITE_AGENT_ACCESS_TOKEN", "GITLAB_CI", "CIRCLECI"):
        monkeypatch.delenv(var, raising=False)
    directory = make_revision_set(tmp_path / "dist", REV)
    before = sorted(p.name for p in directory.iterdir())
    code, _, err = run(capsys, "sign", "--keyless", "--rev", str(REV), str(directory))
    assert code == ExitCode.CREDENTIALS
    assert "id-token: write" in err
    assert sorted(p.name for p in directory.iterdir()) == before
    code, _, err = run(capsys, "sign", "--keyless", "--key", str(tmp_path / "k.pem"), "--rev", str(REV),
                       str(directory))
    assert code == ExitCode.USAGE and "exclude each other" in err


def test_manifest_lists_bundles_with_their_digests(published) -> None:
    bucket, _ = published
    from urllib.parse import urlparse

    base = Path(urlparse(bucket).path)
    manifest = json.loads((base / object_path(manifest_name(REV))).read_text())
    entries = {e["name"]: e for e in manifest["files"]}
    name = arch_files("amd64", REV)["sbom_bundle"]
    assert entries[name]["role"] == "sbom_bundle" and entries[name]["arch"] == "amd64"
