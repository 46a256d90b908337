"""Signed per-runner sets: the publish that completes the set signs the merged manifest again.

Each runner signed its own files and a manifest listing only its architecture;
that manifest signature is never published for a merged manifest. The rule is
in crio_release.publish.manifest_resign: the completer signs the merged bytes
(`--key` for `.sig`, `--keyless` for `.bundle`), and a signed manifest is
sealed. Keyless signatures come from the local test Sigstore instance.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.cli import cli
from crio_release.publish.manifest_resign import ManifestSigners
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision_keyless
from crio_release.publish.storage import open_bucket
from crio_release.publish.verify import verify_revision
from helpers.publish import bucket_state, make_revision_set
from helpers.sigstore_instance import GITHUB_ISSUER, LocalSigstore

from crio.artifacts import (
    arch_files,
    manifest_bundle_name,
    manifest_name,
    manifest_signature_name,
    object_path,
)
from crio.cli import run_main
from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy
from crio.revision import parse_revision
from crio.signing import generate_keypair, verify_file

REV = parse_revision("v1.36.2")
IDENTITY = "https://github.com/example/cri-o-release/.github/workflows/release.yml@refs/tags/v1.36.2"


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def _signed_parts(tmp_path: Path, key: bytes, archs=("amd64", "arm64")) -> dict[str, Path]:
    return {arch: make_revision_set(tmp_path / arch, REV, archs=(arch,), private_key=key) for arch in archs}


def test_a_signed_part_without_a_signer_is_refused_before_any_upload(cas_bucket: str, tmp_path: Path,
                                                                     keys) -> None:
    parts = _signed_parts(tmp_path, keys[0])
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    assert err.value.exit_code == ExitCode.USAGE and "pass --key" in err.value.message
    with pytest.raises(CrioError) as err:  # a keyless signer cannot make a .sig
        publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"],
                         signers=ManifestSigners(keyless=lambda path: b"{}"))
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(CrioError):  # a key that is no key fails now, not after the uploads
        publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"], signers=ManifestSigners(key=b"junk"))
    assert open_bucket(cas_bucket).list() == []


def test_the_completing_publish_signs_the_merged_manifest_with_its_key(cas_bucket: str, tmp_path: Path,
                                                                       keys) -> None:
    private, public = keys
    parts = _signed_parts(tmp_path, private)
    signers = ManifestSigners(key=private)
    storage = open_bucket(cas_bucket)
    sig_path = object_path(manifest_signature_name(REV))
    first = publish_revision(cas_bucket, REV, parts["arm64"], archs=["arm64"], signers=signers)
    assert first.waiting and storage.stat(sig_path) is None  # the part's own manifest signature stays local
    second = publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"], signers=signers)
    assert second.signed == [f"sign   {sig_path}: the merged manifest "
                             f"({storage.stat(object_path(manifest_name(REV))).size} bytes), if_generation_match=0"]
    assert [m.outcome for m in second.markers] == ["moved", "moved"]
    assert verify_revision(cas_bucket, REV, key=public) == []  # every .sig, the merged manifest's too
    for arch in ("amd64", "arm64"):
        assert storage.stat(object_path(arch_files(arch, REV)["signature"])) is not None
    # The local manifest signatures sign other bytes: neither verifies the merged manifest.
    merged = tmp_path / "merged.json"
    merged.write_bytes(storage.read(object_path(manifest_name(REV)))[0])
    for part in parts.values():
        with pytest.raises(CrioError):
            verify_file(merged, (part / manifest_signature_name(REV)).read_bytes(), public)

    # A rerun of the completer keeps the signature; another key's rerun is refused.
    before = bucket_state(cas_bucket)
    rerun = publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"], signers=signers)
    assert rerun.signed == [f"skip   {sig_path}: already signed"] and bucket_state(cas_bucket) == before
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"],
                         signers=ManifestSigners(key=generate_keypair()[0]))
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT and bucket_state(cas_bucket) == before


def test_a_signed_manifest_is_sealed(cas_bucket: str, tmp_path: Path, keys) -> None:
    parts = _signed_parts(tmp_path, keys[0], archs=("amd64", "arm64", "ppc64le"))
    signers = ManifestSigners(key=keys[0])
    for arch in ("amd64", "arm64"):
        publish_revision(cas_bucket, REV, parts[arch], archs=[arch], signers=signers)
    before = bucket_state(cas_bucket)
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, parts["ppc64le"], archs=["ppc64le"], signers=signers)
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT and "sealed" in err.value.message
    assert bucket_state(cas_bucket) == before


def test_a_single_signed_publish_uploads_its_own_manifest_signature(file_bucket: str, tmp_path: Path,
                                                                    keys) -> None:
    full = make_revision_set(tmp_path / "full", REV, private_key=keys[0])
    # Needs no manifest signer (the bucket's manifest is the signed one); its key signs the markers it moves.
    report = publish_revision(file_bucket, REV, full, signing_key=keys[0])
    assert report.signed == [] and object_path(manifest_signature_name(REV)) in {o.path for o in report.uploaded}
    assert verify_revision(file_bucket, REV, key=keys[1]) == []


def test_keyless_parts_get_a_keyless_signature_of_the_merged_manifest(file_bucket: str, tmp_path: Path) -> None:
    instance = LocalSigstore()

    def sign(path: Path) -> bytes:
        return instance.sign(path.read_bytes(), IDENTITY, repository="example/cri-o-release",
                             ref="refs/tags/v1.36.2").bundle_v03()

    parts = {arch: make_revision_set(tmp_path / arch, REV, archs=(arch,)) for arch in ("amd64", "arm64")}
    for directory in parts.values():
        sign_revision_keyless(directory, REV, sign)
    signers = ManifestSigners(keyless=sign)
    publish_revision(file_bucket, REV, parts["amd64"], archs=["amd64"], signers=signers)
    report = publish_revision(file_bucket, REV, parts["arm64"], archs=["arm64"], signers=signers)
    assert report.signed and report.signed[0].startswith(f"sign   {object_path(manifest_bundle_name(REV))}")
    root = instance.write_trusted_root(tmp_path / "trusted_root.json")
    policy = IdentityPolicy(identity=IDENTITY, issuer=GITHUB_ISSUER)
    assert verify_revision(file_bucket, REV, keyless=policy, trusted_root=root) == []
    assert {s.marker for s in read_markers(file_bucket) if s.complete} == {"latest-1.36.txt",
                                                                         "latest-bundle-v1.36.2.txt"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        run_main(cli, list(argv))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_cli_per_runner_publish_with_a_key(capsys, file_bucket: str, tmp_path: Path, keys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRIO_SIGNING_KEY", raising=False)
    parts = _signed_parts(tmp_path, keys[0])
    key = tmp_path / "release.pem"
    key.write_bytes(keys[0])
    base = ["publish", "--bucket", file_bucket, "--rev", str(REV), "--expect-arch", "amd64", "--expect-arch", "arm64"]
    code, _, err = _run(capsys, *base, "--arch", "amd64", "--keyless", "--key", str(key), str(parts["amd64"]))
    assert code == ExitCode.USAGE and "exclude each other" in err
    code, _, err = _run(capsys, *base, "--arch", "amd64", str(parts["amd64"]))
    assert code == ExitCode.USAGE and "pass --key" in err
    code, out, err = _run(capsys, *base, "--arch", "amd64", "--key", str(key), str(parts["amd64"]))
    assert code == 0, err
    assert "markers wait: v1.36.2 is not complete for amd64, arm64 yet" in out
    monkeypatch.setenv("CRIO_SIGNING_KEY", str(key))  # the key named by the environment, as `sign` reads it
    code, out, err = _run(capsys, *base, "--arch", "aarch64", str(parts["arm64"]))
    assert code == 0, err
    assert f"sign   {object_path(manifest_signature_name(REV))}" in out
    assert "marker latest-1.36.txt: absent -> v1.36.2" in out
    assert verify_revision(file_bucket, REV, key=keys[1]) == []
