"""Keyless signatures in both installers: one policy, the same outcomes (issue 13 item 1).

A local Sigstore instance made by the tests (tests/helpers/sigstore_instance.py) signs the fixture
bundles in every shape; a bucket holding them is served by a real HTTP server on 127.0.0.1, and each
installer is given the instance's trusted_root.json with --trusted-root. Every bad case changes one
fact (who signed, which issuer, when, which log body, which root, which bytes).

scripts/get runs with cosign absent from PATH, so it takes its openssl path (keyless_verify_openssl).
Until that verifier is merged the function is a placeholder that refuses (exit 6, naming cosign and
crio-get): with BASH_OPENSSL_KEYLESS = True the bash cases that reach a keyless verification expect
that refusal; flipping it to True makes them expect exactly crio-get's outcome. The cosign path is run
with a stand-in (tests/helpers/cosign_standin.py): it shows what scripts/get hands cosign, not cosign itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crio_installer.keyless import WAY_OUT
from helpers.bundles import make_embedded_bundles
from helpers.cosign_standin import install_standin
from helpers.get_fixtures import INSTALLERS, lay_out_bucket, run_get, write_bundle
from helpers.http_server import FaultServer
from helpers.real_bundle import real_bundle_tarball
from helpers.sigstore_instance import GITHUB_ISSUER, LocalSigstore, Signed

from crio.artifacts import (
    CERTIFICATE_SUFFIX,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    SIGNATURE_SUFFIX,
    SIGSTORE_BUNDLE_SUFFIX,
    object_path,
    provenance_bundle_name,
    provenance_name,
    tarball_name,
)
from crio.checksums import format_sha256sum
from crio.downgrade import installed_state
from crio.keyless.policy import GITHUB_ACTIONS_ISSUER, UPSTREAM_IDENTITY
from crio.signing import generate_keypair, sign_file

#: scripts/get verifies keyless signatures without cosign (its openssl-only keyless_verify_openssl).
BASH_OPENSSL_KEYLESS = True
PLACEHOLDER = "keyless verification without cosign is not available in this scripts/get"

ARCH = "amd64"
REV = "v1.4.0"
UPSTREAM_REPO = "cri-o/packaging"
OTHER = "https://github.com/example/fork/.github/workflows/obs.yml@refs/heads/main"
DATA = Path(__file__).resolve().parent.parent / "data" / "sigstore"


@pytest.fixture(scope="module")
def instance() -> LocalSigstore:
    return LocalSigstore("crio-test")


@pytest.fixture(scope="module")
def root_file(instance: LocalSigstore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return instance.write_trusted_root(tmp_path_factory.mktemp("root") / "trusted_root.json")


def no_cosign_path() -> str:
    """PATH without any directory holding a cosign, so scripts/get takes its openssl path."""
    dirs = os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not os.path.exists(os.path.join(d, "cosign")))


def expected(installer: str, code: int, keyless_reached: bool = True) -> tuple[int, str | None]:
    """(exit code, required message) for `installer`; the bash placeholder refuses every keyless check."""
    if installer == "bash" and keyless_reached and not BASH_OPENSSL_KEYLESS:
        return 6, PLACEHOLDER
    return code, None


class Bucket:
    """One revision's tarball in a bucket, with whatever evidence a case publishes beside it."""

    def __init__(self, root: Path, revision: str = REV, tarball: Path | None = None) -> None:
        self.root, self.revision = root, revision
        self.tarball = tarball or write_bundle(root.parent / f"build-{revision}", ARCH, revision)
        lay_out_bucket(root, [self.tarball])
        self.name = self.tarball.name

    @property
    def data(self) -> bytes:
        return self.tarball.read_bytes()

    def put(self, name: str, data: bytes) -> None:
        (self.root / object_path(name)).write_bytes(data)

    def publish(self, signed: Signed, shape: str) -> None:
        if shape == "bundle":
            self.put(self.name + SIGSTORE_BUNDLE_SUFFIX, signed.bundle_v03())
        elif shape == "cosign-bundle":   # what older revisions carry beside .sig + .cert
            self.put(self.name + SIGSTORE_BUNDLE_SUFFIX, signed.cosign_bundle())
            self.put(self.name + SIGNATURE_SUFFIX, signed.sig_file())
            self.put(self.name + CERTIFICATE_SUFFIX, signed.cert_file())
        elif shape == "sig+cert":
            self.put(self.name + SIGNATURE_SUFFIX, signed.sig_file())
            self.put(self.name + CERTIFICATE_SUFFIX, signed.cert_file())
        else:
            raise ValueError(shape)

    def replace_tarball(self, data: bytes) -> None:
        """A mirror serving other bytes under the name, with its own matching .sha256sum."""
        self.put(self.name, data)
        self.put(self.name + ".sha256sum", format_sha256sum(hashlib.sha256(data).hexdigest(), self.name).encode())

    def provenance(self, instance: LocalSigstore, subjects: dict[str, str], *, signed: bool = True) -> None:
        statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
                     "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects.items()],
                     "predicate": {"buildDefinition": {"buildType": "https://example.test/build"}}}
        data = json.dumps(statement, indent=2).encode()
        self.put(provenance_name(self.revision), data)
        if signed:
            evidence = instance.sign(data, UPSTREAM_IDENTITY, repository=UPSTREAM_REPO).bundle_v03()
            self.put(provenance_bundle_name(self.revision), evidence)


def upstream(instance: LocalSigstore, data: bytes, **kwargs) -> Signed:
    """Signed as upstream signs: its workflow identity, GitHub's issuer, repository cri-o/packaging."""
    return instance.sign(data, kwargs.pop("identity", UPSTREAM_IDENTITY), repository=UPSTREAM_REPO, **kwargs)


def install(installer: str, tmp_path: Path, url: str, args: list[str], destdir: Path | None = None):
    destdir = destdir or tmp_path / "root"
    return run_get(installer, ["-a", ARCH, "-m", url, "-t", REV, *args], destdir=destdir,
                   tmpdir=tmp_path / "tmp", env={"PATH": no_cosign_path()}, signatures=True)


def check(result, installer: str, code: int, fragment: str | None, keyless_reached: bool = True) -> None:
    want, placeholder = expected(installer, code, keyless_reached)
    assert result.returncode == want, result.stderr
    if placeholder is not None:
        assert placeholder in result.stderr
        assert "install cosign or use crio-get" in result.stderr
    elif fragment is not None and (installer == "python" or not keyless_reached):
        assert fragment in result.stderr, result.stderr


# Good signatures install ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["bundle", "cosign-bundle"])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_upstream_signed_revision_installs_by_default(installer: str, shape: str, instance: LocalSigstore,
                                                      root_file: Path, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    bucket.publish(upstream(instance, bucket.data), shape)
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)])
    check(result, installer, 0, "keyless signature verified")
    if result.returncode == 0:
        assert (tmp_path / "root/usr/local/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.4.0")


@pytest.mark.parametrize("policy", [
    ["--certificate-identity", OTHER, "--certificate-oidc-issuer", GITHUB_ISSUER],
    ["--certificate-identity-regexp", r"https://github\.com/example/fork/.*@refs/heads/.*",
     "--certificate-oidc-issuer", GITHUB_ISSUER, "--certificate-github-workflow-repository", "example/fork"],
])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_identity_flags_replace_the_default_policy(installer: str, policy: list[str], instance: LocalSigstore,
                                                   root_file: Path, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    bucket.publish(instance.sign(bucket.data, OTHER, repository="example/fork"), "bundle")
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, [*policy, "--trusted-root", str(root_file)])
        check(result, installer, 0, "keyless signature verified")
        # The same signature under the default policy (upstream's signer) is refused.
        default = install(installer, tmp_path / "default", server.url, ["--trusted-root", str(root_file)])
    check(default, installer, 6, "is not " + UPSTREAM_IDENTITY)


# Bad signatures are refused -------------------------------------------------------------------


def _bad_cases(instance: LocalSigstore, data: bytes) -> dict[str, tuple[Signed, bytes | None, str]]:
    """case -> (signature, bytes the mirror serves instead (or None), what crio-get's message names)."""
    now = datetime.now(UTC)
    other_artifact = b"another artifact"
    other_body = instance.hashedrekord(hashlib.sha256(other_artifact).hexdigest(), b"x" * 70,
                                       upstream(instance, other_artifact).cert)
    return {
        "wrong identity": (upstream(instance, data, identity=OTHER), None, "is not " + UPSTREAM_IDENTITY),
        "wrong issuer": (upstream(instance, data, issuer="https://accounts.example.test"), None, "OIDC issuer"),
        "outside validity": (upstream(instance, data, logged_at=now + timedelta(hours=1)), None,
                             "does not verify"),
        "log for another body": (upstream(instance, data, logged_body=other_body), None, "does not verify"),
        "tampered artifact": (upstream(instance, data), data + b"\0", "does not verify"),
        "another root": (upstream(instance, data, ca=LocalSigstore("elsewhere")), None, "does not verify"),
        "bundle for another artifact": (upstream(instance, other_artifact), None, "does not verify"),
    }


BAD_CASES = ("wrong identity", "wrong issuer", "outside validity", "log for another body", "tampered artifact",
             "another root", "bundle for another artifact")


@pytest.mark.parametrize("shape", ["bundle", "cosign-bundle"])
@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("installer", INSTALLERS)
def test_bad_keyless_signature_is_refused(installer: str, case: str, shape: str, instance: LocalSigstore,
                                          root_file: Path, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    signed, served, reason = _bad_cases(instance, bucket.data)[case]
    bucket.publish(signed, shape)
    if served is not None:
        bucket.replace_tarball(served)
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)])
    check(result, installer, 6, reason)
    assert not (tmp_path / "root/usr/local/bin/crio").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_sig_and_cert_without_log_evidence_are_refused(installer: str, instance: LocalSigstore,
                                                       root_file: Path, tmp_path: Path) -> None:
    # A mirror that kept .sig + .cert but dropped the .bundle: nothing offline proves the log entry.
    bucket = Bucket(tmp_path / "bucket")
    bucket.publish(upstream(instance, bucket.data), "sig+cert")
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)])
    check(result, installer, 6, "no transparency-log evidence")


# Signatures are required by default ------------------------------------------------------------


@pytest.mark.parametrize("trusted_root", [True, False])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_unsigned_revision_is_refused_naming_the_ways_out(installer: str, trusted_root: bool, root_file: Path,
                                                          tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)] if trusted_root else [])
    assert result.returncode == 6, result.stderr
    for way_out in ("-k KEY.pem", "--certificate-identity", "--insecure-skip-signature-verification",
                    f"no signature is published for {bucket.name}", UPSTREAM_IDENTITY):
        assert way_out in result.stderr
    assert not (tmp_path / "root").exists() or not (tmp_path / "root/usr/local/bin/crio").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_key_signed_revision_without_k_is_refused(installer: str, tmp_path: Path) -> None:
    private, _ = generate_keypair()
    bucket = Bucket(tmp_path / "bucket")
    bucket.put(bucket.name + SIGNATURE_SUFFIX, sign_file(bucket.tarball, private))
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, [])
    assert result.returncode == 6, result.stderr
    assert "signed with a key, not keyless" in result.stderr and "-k KEY.pem" in result.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_skip_flag_installs_unsigned_but_never_skips_the_sha256(installer: str, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    with FaultServer(bucket.root) as server:
        good = install(installer, tmp_path, server.url, ["--insecure-skip-signature-verification"])
        assert good.returncode == 0, good.stderr
        assert "SKIPPED" in good.stderr
        bucket.put(bucket.name, bucket.data + b"\0")   # the .sha256sum still names the original bytes
        bad = install(installer, tmp_path / "again", server.url, ["--insecure-skip-signature-verification"])
    assert bad.returncode == 6, bad.stderr
    assert "sha256 mismatch" in bad.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--certificate-identity", OTHER], "--certificate-oidc-issuer"),
    (["--certificate-oidc-issuer", GITHUB_ISSUER], "need --certificate-identity"),
    (["--certificate-github-workflow-repository", "a/b"], "need --certificate-identity"),
    (["--certificate-identity", OTHER, "--certificate-identity-regexp", ".*", "--certificate-oidc-issuer",
      GITHUB_ISSUER], "exactly one of"),
    (["--certificate-identity", OTHER, "--certificate-oidc-issuer", GITHUB_ISSUER,
      "--certificate-github-workflow-repository", "not a repo"], "OWNER/REPO"),
    (["--certificate-identity", OTHER, "--certificate-oidc-issuer", GITHUB_ISSUER, "-k", "KEY"], "exclude each other"),
    (["--trusted-root", "ROOT", "-k", "KEY"], "excludes -k"),
    (["--certificate-identity", OTHER, "--certificate-oidc-issuer", GITHUB_ISSUER,
      "--insecure-skip-signature-verification"], "excludes the --certificate-* flags"),
    (["--trusted-root", "/nonexistent/trusted_root.json"], "trusted root"),
])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_incomplete_or_contradictory_policy_is_a_usage_error(installer: str, args: list[str], fragment: str,
                                                             tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(generate_keypair()[1])
    args = [str(key) if a == "KEY" else str(tmp_path / "root.json") if a == "ROOT" else a for a in args]
    result = install(installer, tmp_path, "http://127.0.0.1:9", args)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


# Provenance binding and the downgrade rule ----------------------------------------------------


@pytest.mark.parametrize(("case", "code", "fragment"), [
    ("subject", 0, "is a subject of"),
    ("not a subject", 6, "does not name"),
    ("other digest", 6, "says cri-o.amd64.v1.4.0.tar.gz has sha256"),
    ("unsigned", 6, "published but not signed"),
    ("other signer", 6, "is not " + UPSTREAM_IDENTITY),
])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_provenance_binds_the_tarball(installer: str, case: str, code: int, fragment: str,
                                      instance: LocalSigstore, root_file: Path, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    bucket.publish(upstream(instance, bucket.data), "bundle")
    digest = hashlib.sha256(bucket.data).hexdigest()
    subjects = {"not a subject": {tarball_name("arm64", REV): digest},
                "other digest": {bucket.name: "0" * 64}}.get(case, {bucket.name: digest})
    bucket.provenance(instance, {**subjects, tarball_name("s390x", REV): "1" * 64}, signed=case != "unsigned")
    if case == "other signer":
        prov = (bucket.root / object_path(provenance_name(REV))).read_bytes()
        bucket.put(provenance_bundle_name(REV), upstream(instance, prov, identity=OTHER).bundle_v03())
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)])
    check(result, installer, code, fragment)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_log_time_drives_the_downgrade_rule(installer: str, instance: LocalSigstore, root_file: Path,
                                            tmp_path: Path) -> None:
    # Real bundles (their install script records revision and build time), the older one logged earlier.
    now = datetime.now(UTC)
    for revision in ("v1.4.1", REV):
        make_embedded_bundles(tmp_path / f"build-{revision}", revision, (ARCH,))
    bucket = Bucket(tmp_path / "bucket", "v1.4.1", tmp_path / "build-v1.4.1" / tarball_name(ARCH, "v1.4.1"))
    bucket.publish(upstream(instance, bucket.data), "bundle")
    older = Bucket(tmp_path / "bucket", REV, tmp_path / f"build-{REV}" / tarball_name(ARCH, REV))
    older_signed = upstream(instance, older.data, not_before=now - timedelta(minutes=8),
                            logged_at=now - timedelta(minutes=5))
    older.publish(older_signed, "bundle")
    older_time = older_signed.integrated_time
    marker = bucket.root / "latest-1.4.txt"
    destdir = tmp_path / "root"
    args = ["-a", ARCH, "-t", "v1.4", "--trusted-root", str(root_file)]
    env = {"PATH": no_cosign_path()}
    with FaultServer(bucket.root) as server:
        marker.write_text("v1.4.1\n")
        first = run_get(installer, [*args, "-m", server.url], destdir=destdir, tmpdir=tmp_path / "t1", env=env,
                        signatures=True)
        check(first, installer, 0, "keyless signature verified")
        if first.returncode != 0:
            return   # the bash placeholder refused; nothing installed to downgrade from
        marker.write_text(f"{REV}\n")
        second = run_get(installer, [*args, "-m", server.url], destdir=destdir, tmpdir=tmp_path / "t2", env=env,
                         signatures=True)
        assert second.returncode == 17, second.stderr
        assert f"names {REV}, which is older than the installed v1.4.1" in second.stderr
        third = run_get(installer, [*args, "-m", server.url, "--allow-downgrade"], destdir=destdir,
                        tmpdir=tmp_path / "t3", env=env, signatures=True)
    assert third.returncode == 0, third.stderr
    state = installed_state((destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_bytes())
    assert (state.revision, state.build_time) == (REV, older_time)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_download_keeps_the_evidence_for_a_later_offline_install(installer: str, instance: LocalSigstore,
                                                                 root_file: Path, tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "bucket")
    bucket.publish(upstream(instance, bucket.data), "bundle")
    bucket.provenance(instance, {bucket.name: hashlib.sha256(bucket.data).hexdigest()})
    saved = tmp_path / "saved"
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["-d", str(saved), "--trusted-root", str(root_file)])
    check(result, installer, 0, None)
    if result.returncode != 0:
        return
    assert sorted(p.name for p in saved.iterdir()) == sorted([
        bucket.name, bucket.name + ".sha256sum", bucket.name + SIGSTORE_BUNDLE_SUFFIX, provenance_name(REV),
        provenance_bundle_name(REV)])
    local = run_get(installer, ["-f", str(saved / bucket.name), "--trusted-root", str(root_file)],
                    destdir=tmp_path / "root", tmpdir=tmp_path / "t2", env={"PATH": no_cosign_path()},
                    signatures=True)
    assert local.returncode == 0, local.stderr
    assert "keyless signature verified" in local.stderr


# Real public-good evidence ---------------------------------------------------------------------


@pytest.mark.parametrize("installer", INSTALLERS)
def test_public_good_bundle_verifies_through_the_installer(installer: str, tmp_path: Path) -> None:
    # sigstore-python's public test asset, signed on the public-good instance, published as if it were a
    # tarball (with -d nothing is unpacked): verified with the embedded root and that signer's identity.
    bucket = tmp_path / "bucket"
    name = tarball_name(ARCH, REV)
    (bucket / "artifacts").mkdir(parents=True)
    data = (DATA / "new_bundle.txt").read_bytes()
    (bucket / object_path(name)).write_bytes(data)
    (bucket / object_path(name + ".sha256sum")).write_text(format_sha256sum(hashlib.sha256(data).hexdigest(), name))
    shutil.copyfile(DATA / "new_bundle.txt.sigstore.json", bucket / object_path(name + SIGSTORE_BUNDLE_SUFFIX))
    policy = ["--certificate-identity", "aryadeeptade@gmail.com", "--certificate-oidc-issuer",
              "https://github.com/login/oauth"]
    with FaultServer(bucket) as server:
        result = install(installer, tmp_path, server.url, ["-d", str(tmp_path / "saved"), *policy])
        wrong = install(installer, tmp_path / "wrong", server.url,
                        ["-d", str(tmp_path / "saved2"), "--certificate-identity", "someone@example.com",
                         *policy[2:]])
    check(result, installer, 0, "signed by aryadeeptade@gmail.com")
    check(wrong, installer, 6, "is not someone@example.com")


def test_bash_takes_the_openssl_path_when_cosign_is_absent(tmp_path: Path) -> None:
    """The PATH the bash cases run with has no cosign (else they would test cosign, not openssl)."""
    assert shutil.which("cosign", path=no_cosign_path()) is None


@pytest.mark.parametrize(("args", "policy"), [
    ([], f"identity {UPSTREAM_IDENTITY}, issuer {GITHUB_ISSUER}, repository {UPSTREAM_REPO}"),
    (["--certificate-identity-regexp", "https://x/.*", "--certificate-oidc-issuer", GITHUB_ISSUER],
     f"identity /https://x/.*/, issuer {GITHUB_ISSUER}"),
])
def test_dry_run_names_the_same_policy_in_both_installers(args: list[str], policy: str, tmp_path: Path) -> None:
    lines = {}
    for installer in INSTALLERS:
        result = install(installer, tmp_path / installer, "http://127.0.0.1:9", ["-n", *args])
        assert result.returncode == 0, result.stderr
        lines[installer] = [line for line in result.stdout.splitlines() if line.startswith("signature:")]
    name = tarball_name(ARCH, REV)
    assert lines["bash"] == lines["python"] == [
        f"signature: keyless, http://127.0.0.1:9/artifacts/{name}.bundle or .sig + .cert, required: {policy}"]


def test_bash_copies_of_the_keyless_facts_match_crio() -> None:
    """scripts/get spells upstream's signer, the suffixes and the ways out as crio/ does."""
    text = (Path(__file__).resolve().parents[2] / "scripts" / "get").read_text()
    facts = {"UPSTREAM_IDENTITY": UPSTREAM_IDENTITY, "GITHUB_ACTIONS_ISSUER": GITHUB_ACTIONS_ISSUER,
             "UPSTREAM_REPOSITORY": UPSTREAM_REPO, "SIGSTORE_BUNDLE_SUFFIX": SIGSTORE_BUNDLE_SUFFIX,
             "CERTIFICATE_SUFFIX": CERTIFICATE_SUFFIX, "WAY_OUT": WAY_OUT}
    for variable, value in facts.items():
        assert f'readonly {variable}="{value}"\n' in text, variable


# scripts/get's cosign path, with a stand-in (tests/helpers/cosign_standin.py) --------------------


@pytest.mark.parametrize(("case", "code"), [("bundle", 0), ("cosign-bundle", 0), ("wrong identity", 6),
                                            ("regexp", 0), ("sig+cert", 6), ("provenance subject", 0),
                                            ("provenance other digest", 6), ("provenance not a subject", 6),
                                            ("download", 0)])
def test_bash_cosign_path_passes_the_policy_and_obeys_the_answer(case: str, code: int, instance: LocalSigstore,
                                                                  root_file: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    install_standin(bin_dir)
    bucket = Bucket(tmp_path / "bucket")
    identity = OTHER if case == "wrong identity" else UPSTREAM_IDENTITY
    shape = case if case in ("cosign-bundle", "sig+cert") else "bundle"
    signed = upstream(instance, bucket.data, identity=identity)
    bucket.publish(signed, shape)
    digest = hashlib.sha256(bucket.data).hexdigest()
    # Other subjects around it, one with the tarball's digest under another name (only the name counts).
    subjects = {"provenance subject": {bucket.name: digest}, "download": {bucket.name: digest},
                "provenance other digest": {bucket.name: "0" * 64},
                "provenance not a subject": {f"x{bucket.name}": digest}}.get(case)
    if subjects is not None:
        bucket.provenance(instance, {tarball_name("arm64", REV): "1" * 64, **subjects, "z.spdx": "2" * 64})
    saved = tmp_path / "saved"
    extra = ["-d", str(saved)] if case == "download" else []
    policy = (["--certificate-identity-regexp", r"https://github\.com/cri-o/packaging/.*", "--certificate-oidc-issuer",
               GITHUB_ISSUER] if case == "regexp" else [])
    with FaultServer(bucket.root) as server:
        result = run_get("bash", ["-a", ARCH, "-m", server.url, "-t", REV, "--trusted-root", str(root_file), *policy,
                                  *extra],
                         destdir=tmp_path / "root", tmpdir=tmp_path / "tmp",
                         env={"PATH": f"{bin_dir}{os.pathsep}{no_cosign_path()}"}, signatures=True)
    assert result.returncode == code, result.stderr
    calls = [json.loads(line) for line in (bin_dir / "cosign.log").read_text().splitlines()]
    tarball_call = calls[0]
    assert tarball_call[:2] == ["verify-blob", "--offline=true"]
    assert tarball_call[-2] == "--" and tarball_call[-1].endswith("/" + bucket.name)
    assert tarball_call[tarball_call.index("--trusted-root") + 1] == str(root_file)
    if case == "regexp":
        assert tarball_call[tarball_call.index("--certificate-identity-regexp") + 1] == \
            r"^(https://github\.com/cri-o/packaging/.*)$"
    else:
        assert tarball_call[tarball_call.index("--certificate-identity") + 1] == UPSTREAM_IDENTITY
        assert tarball_call[tarball_call.index("--certificate-github-workflow-repository") + 1] == UPSTREAM_REPO
    assert ("--signature" in tarball_call) == (case == "sig+cert")
    if code == 0:
        assert f"keyless signature verified: {bucket.name} signed by" in result.stderr
        assert f" at {signed.integrated_time}\n" in result.stderr   # the log time, read back from the bundle
        if case == "download":
            assert sorted(p.name for p in saved.iterdir()) == sorted([
                bucket.name, bucket.name + ".sha256sum", bucket.name + SIGSTORE_BUNDLE_SUFFIX, provenance_name(REV),
                provenance_bundle_name(REV)])
        else:
            assert (tmp_path / "root/usr/local/bin/crio").is_file()
        assert len(calls) == (1 if subjects is None else 2)
    elif case == "provenance other digest":
        assert len(calls) == 2 and "has sha256 " + "0" * 64 in result.stderr
    elif case == "provenance not a subject":
        assert len(calls) == 2 and f"does not name {bucket.name} among its subjects" in result.stderr
    else:
        assert "does not verify (cosign)" in result.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_keyless_install_records_the_signers_identity(installer: str, instance: LocalSigstore, root_file: Path,
                                                        tmp_path: Path) -> None:
    """With the real install script (which records metadata), the record and --status name the certificate's
    identity: `keyless:IDENTITY`."""
    tarball = real_bundle_tarball(tmp_path / "real", REV, {"bin/crio": b"#!/bin/sh\necho crio\n"}, arch=ARCH)
    bucket = Bucket(tmp_path / "bucket", tarball=tarball)
    bucket.publish(upstream(instance, bucket.data), "bundle")
    with FaultServer(bucket.root) as server:
        result = install(installer, tmp_path, server.url, ["--trusted-root", str(root_file)])
    assert result.returncode == 0, result.stderr
    status = run_get(installer, ["--status", "--json"], destdir=tmp_path / "root", tmpdir=tmp_path / "st")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["signer"] == f"keyless:{UPSTREAM_IDENTITY}"
