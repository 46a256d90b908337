"""scripts/get's openssl-only keyless verifier (keyless_verify_openssl) agrees with crio/keyless.

Each case is given to both: the bash function through `scripts/get --contract keyless-verify` (policy in
the environment, cosign nowhere on PATH) and crio/keyless's Python verifier with the same policy; the
verdicts must be equal, and the case's expected one. The local Sigstore instance
(tests/helpers/sigstore_instance.py) signs in the three shapes; each refusal changes one fact.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers.sigstore_instance import GITHUB_ISSUER, LocalSigstore, Signed

from crio.errors import CrioError, ExitCode
from crio.keyless import UPSTREAM_SIGNER, IdentityPolicy, load_trusted_root, verify_bundle, verify_detached
from crio.keyless.trust import PUBLIC_GOOD, STAGING, embedded_trusted_root_json

ROOT = Path(__file__).resolve().parents[2]
GET = ROOT / "scripts" / "get"
DATA = ROOT / "tests" / "data" / "sigstore"
IDENTITY = "https://github.com/example/release/.github/workflows/release.yml@refs/heads/main"
REPO = "example/release"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=GITHUB_ISSUER, github_workflow_repository=REPO,
                        github_workflow_ref="refs/heads/main")
SHAPES = ("bundle", "cosign-bundle", "sig+cert")
OAUTH = "https://github.com/login/oauth"


@dataclass(frozen=True)
class Verdict:
    code: int
    out: str
    err: str


def _env(policy: IdentityPolicy, trusted_root: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERT_", "CRIO_CONTRACT_")) and k != "TRUSTED_ROOT"}
    env["PATH"] = "/usr/bin:/bin"  # no cosign: the openssl path is the one under test
    for name, value in (("CRIO_CONTRACT_CERT_IDENTITY", policy.identity), ("CRIO_CONTRACT_CERT_IDENTITY_REGEXP", policy.identity_regexp),
                        ("CRIO_CONTRACT_CERT_OIDC_ISSUER", policy.issuer), ("CRIO_CONTRACT_CERT_GITHUB_REPO", policy.github_workflow_repository),
                        ("CRIO_CONTRACT_CERT_GITHUB_REF", policy.github_workflow_ref)):
        if value:
            env[name] = value
    if trusted_root is not None:
        env["CRIO_CONTRACT_TRUSTED_ROOT"] = str(trusted_root)
    return env


def run_bash(artifact: Path, kind: str, files: list[Path], policy: IdentityPolicy,
             trusted_root: Path | None, tmp: Path) -> Verdict:
    env = _env(policy, trusted_root)
    env["TMPDIR"] = str(tmp)
    proc = subprocess.run(["bash", str(GET), "--contract", "keyless-verify", str(artifact), kind, *map(str, files)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert not [p for p in tmp.iterdir() if p.name.startswith("crio-get.")], "scratch directory left behind"
    return Verdict(proc.returncode, proc.stdout.strip(), proc.stderr.strip())


def write_shape(shape: str, signed: Signed, where: Path) -> tuple[str, list[Path]]:
    """The files of one shape, as a mirror holds them, and the evidence kind to name them with."""
    where.mkdir(parents=True, exist_ok=True)
    if shape == "bundle":
        (where / "a.bundle").write_bytes(signed.bundle_v03())
        return "bundle", [where / "a.bundle"]
    if shape == "cosign-bundle":
        (where / "a.bundle").write_bytes(signed.cosign_bundle())
        return "bundle", [where / "a.bundle"]
    (where / "a.sig").write_bytes(signed.sig_file())
    (where / "a.cert").write_bytes(signed.cert_file())
    (where / "a.rekor").write_text(json.dumps(signed.rekor_bundle()))
    return "sigcert", [where / "a.sig", where / "a.cert", where / "a.rekor"]


def run_python(artifact: Path, kind: str, files: list[Path], policy: IdentityPolicy,
               trusted_root: Path | None) -> str | None:
    """crio/keyless's verdict: None when verified, else its message."""
    root = load_trusted_root(trusted_root) if trusted_root is not None else None
    try:
        if kind == "bundle":
            verify_bundle(artifact, files[0].read_bytes(), policy, trusted_root=root)
        else:
            rekor = files[2].read_bytes() if len(files) > 2 else None
            verify_detached(artifact, files[0].read_bytes(), files[1].read_bytes(), rekor, policy, trusted_root=root)
    except CrioError as exc:
        assert exc.exit_code == ExitCode.VERIFICATION
        return exc.message
    return None


def both(artifact: Path, kind: str, files: list[Path], policy: IdentityPolicy, trusted_root: Path | None,
         tmp: Path, *, verified: bool) -> Verdict:
    """Run both verifiers; their verdicts equal `verified`; the bash one is returned."""
    bash = run_bash(artifact, kind, files, policy, trusted_root, tmp)
    python = run_python(artifact, kind, files, policy, trusted_root)
    assert (bash.code == 0) == (python is None) == verified, (bash, python)
    if not verified:
        assert bash.code == ExitCode.VERIFICATION, bash
        assert bash.out == ""
        assert f"keyless signature of {artifact.name}" in bash.err
        assert len(bash.err.splitlines()) == 1
    return bash


# The local test instance ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instance() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def trusted(instance: LocalSigstore, tmp_path: Path) -> Path:
    return instance.write_trusted_root(tmp_path / "trusted_root.json")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "cri-o.amd64.v1.36.0.tar.gz"
    path.write_bytes(b"bundle bytes " * 1000)
    return path


def _case(shape: str, signed: Signed, artifact: Path, policy: IdentityPolicy, trusted: Path, tmp: Path,
          *, verified: bool) -> Verdict:
    kind, files = write_shape(shape, signed, tmp / "evidence")
    return both(artifact, kind, files, policy, trusted, tmp, verified=verified)


def _sign(instance: LocalSigstore, data: bytes, **kwargs) -> Signed:
    kwargs.setdefault("repository", REPO)
    kwargs.setdefault("ref", "refs/heads/main")
    return instance.sign(data, kwargs.pop("identity", IDENTITY), **kwargs)


@pytest.mark.parametrize("shape", SHAPES)
def test_good_signature_is_accepted_with_the_log_time(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes())
    result = _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=True)
    assert result.out == f"{signed.integrated_time} {IDENTITY}"
    regexp = IdentityPolicy(identity_regexp=r"https://github\.com/example/release/.*@refs/heads/.*",
                            issuer=GITHUB_ISSUER, github_workflow_repository=REPO)
    assert _case(shape, signed, artifact, regexp, trusted, tmp_path, verified=True).out.endswith(IDENTITY)


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_identity_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes(), identity=IDENTITY.replace("release.yml", "other.yml"))
    assert "other.yml" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err
    # Anchored at both ends, like crio/keyless: a prefix of a longer identity is not enough.
    prefix = IdentityPolicy(identity_regexp=r"https://github\.com/example/release/\.github", issuer=GITHUB_ISSUER)
    assert "identity" in _case(shape, signed, artifact, prefix, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_issuer_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes(), issuer="https://gitlab.com")
    assert "issuer" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_repository_or_ref_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes(), repository="attacker/release")
    assert "repository" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err
    signed = _sign(instance, artifact.read_bytes(), ref="refs/heads/feature")
    assert "ref" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("shape", SHAPES)
def test_certificate_outside_its_validity_at_the_logged_time_is_refused(shape, instance, trusted, artifact,
                                                                         tmp_path) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    signed = _sign(instance, artifact.read_bytes(), not_before=start, logged_at=start + timedelta(minutes=30))
    err = _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err
    assert "expired" in err


@pytest.mark.parametrize("shape", SHAPES)
def test_log_evidence_for_another_body_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    other = _sign(instance, b"another artifact")
    signed = _sign(instance, artifact.read_bytes(), logged_body=other.body)
    assert "log entry" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("shape", SHAPES)
def test_tampered_artifact_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes())
    artifact.write_bytes(artifact.read_bytes().replace(b"bundle", b"bungle", 1))
    _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_bundle_for_another_artifact_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, b"the arm64 tarball")
    _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_chain_to_another_root_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = _sign(instance, artifact.read_bytes(), ca=LocalSigstore(name="rogue"))
    assert "chain" in _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("shape", SHAPES)
def test_log_signed_by_another_key_is_refused(shape, trusted, artifact, tmp_path) -> None:
    signed = _sign(LocalSigstore(name="rogue"), artifact.read_bytes())
    _case(shape, signed, artifact, POLICY, trusted, tmp_path, verified=False)


@pytest.mark.parametrize("shape", SHAPES)
def test_certificate_timestamp_from_an_untrusted_ct_log_is_refused(shape, instance, artifact, tmp_path) -> None:
    root = instance.trusted_root()
    root["ctlogs"] = LocalSigstore(name="rogue").trusted_root()["ctlogs"]  # the SCT's CT key is no longer trusted
    (tmp_path / "root.json").write_text(json.dumps(root))
    signed = _sign(instance, artifact.read_bytes())
    assert "SCT" in _case(shape, signed, artifact, POLICY, tmp_path / "root.json", tmp_path, verified=False).err


def _edited_bundle(signed: Signed, edit) -> Signed:
    data = json.loads(signed.bundle_v03())
    edit(data["verificationMaterial"]["tlogEntries"][0])

    class Edited(Signed):
        def bundle_v03(self) -> bytes:
            return json.dumps(data).encode()

    return Edited(**signed.__dict__)


def _forge_checkpoint(entry: dict) -> None:
    envelope = entry["inclusionProof"]["checkpoint"]["envelope"]
    end = envelope.index("\n\n")  # a line added to the signed note: its signature no longer holds
    entry["inclusionProof"]["checkpoint"]["envelope"] = envelope[:end] + "\nTimestamp: 1" + envelope[end:]


def _swap_proof_hash(entry: dict) -> None:
    """A proof that no longer leads to the root: two of its hashes swapped, or, when the local log's tree is
    so small that the proof has fewer than two different hashes (a swap would change nothing), its first
    hash replaced (or one added to an empty proof)."""
    hashes = entry["inclusionProof"]["hashes"]
    if len(hashes) >= 2 and hashes[0] != hashes[-1]:
        hashes[0], hashes[-1] = hashes[-1], hashes[0]
    else:
        hashes[:1] = [base64.b64encode(bytes(range(32))).decode()]


def _other_root(entry: dict) -> None:
    entry["inclusionProof"]["rootHash"] = base64.b64encode(bytes(32)).decode()


def _later_time(entry: dict) -> None:
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)  # the SET no longer covers it


def _no_promise(entry: dict) -> None:
    del entry["inclusionPromise"]  # no other source of time in the bundle


@pytest.mark.parametrize(("edit", "reason"), [
    (_forge_checkpoint, "checkpoint: invalid signature"),
    (_swap_proof_hash, "inclusion proof"),
    (_other_root, "root hash"),
    (_later_time, "signed entry timestamp"),
    (_no_promise, "inclusion promise"),
])
def test_bundle_with_forged_log_evidence_is_refused(edit, reason, instance, trusted, artifact, tmp_path) -> None:
    signed = _edited_bundle(_sign(instance, artifact.read_bytes()), edit)
    assert reason in _case("bundle", signed, artifact, POLICY, trusted, tmp_path, verified=False).err


def test_sig_and_cert_without_log_evidence_are_refused_naming_the_bundle(instance, trusted, artifact,
                                                                         tmp_path) -> None:
    kind, files = write_shape("sig+cert", _sign(instance, artifact.read_bytes()), tmp_path / "evidence")
    assert ".bundle" in both(artifact, kind, files[:2], POLICY, trusted, tmp_path, verified=False).err


@pytest.mark.parametrize("garbage", [b"", b"[]", b"{}", b'{"mediaType": "application/x-nope"}', b"\xff",
                                     b'{"a": 1, "a": 2}', b'{"mediaType": "x"} trailing'])
def test_garbage_bundles_are_refused(garbage: bytes, trusted, artifact, tmp_path) -> None:
    (tmp_path / "a.bundle").write_bytes(garbage)
    both(artifact, "bundle", [tmp_path / "a.bundle"], POLICY, trusted, tmp_path, verified=False)


def _mutate(raw: bytes, how: str) -> bytes:
    if how == "truncated":
        return raw[: len(raw) * 2 // 3]
    data = bytearray(raw)
    data[len(data) // 2] ^= 0x10  # one bit inside
    return bytes(data)


@pytest.mark.parametrize("how", ["truncated", "flipped"])
@pytest.mark.parametrize("field", ["certificate", "signature", "body", "set"])
def test_hostile_bytes_in_a_bundle_are_refused_like_python(field, how, instance, trusted, artifact, tmp_path) -> None:
    # Every byte is hostile: a cut or changed certificate (DER lengths past the end), signature, log entry
    # body or signed entry timestamp is refused with exit 6 (never a shell error), as crio/keyless refuses it.
    data = json.loads(_sign(instance, artifact.read_bytes()).bundle_v03())
    material, entry = data["verificationMaterial"], data["verificationMaterial"]["tlogEntries"][0]
    holder, key = {"certificate": (material["certificate"], "rawBytes"),
                   "signature": (data["messageSignature"], "signature"),
                   "body": (entry, "canonicalizedBody"),
                   "set": (entry["inclusionPromise"], "signedEntryTimestamp")}[field]
    holder[key] = base64.b64encode(_mutate(base64.b64decode(holder[key]), how)).decode()
    (tmp_path / "a.bundle").write_text(json.dumps(data))
    both(artifact, "bundle", [tmp_path / "a.bundle"], POLICY, trusted, tmp_path, verified=False)


# What the openssl path cannot check as Python does is refused, naming the fix ----------------------


def _names_the_fix(verdict: Verdict) -> None:
    assert verdict.code == ExitCode.VERIFICATION, verdict
    assert "install cosign or use crio-get" in verdict.err


@pytest.mark.parametrize("regexp", [r"https://github\.com/\w+/release/.*", r"(?i)HTTPS://.*", r"https://.*?main",
                                    r"https://.*\Z", r"[\w].*", r"x{,3}.*", r"a{1.*"])
def test_python_only_regexp_syntax_is_refused_naming_the_fix(regexp, instance, trusted, artifact, tmp_path) -> None:
    kind, files = write_shape("bundle", _sign(instance, artifact.read_bytes()), tmp_path / "evidence")
    policy = IdentityPolicy(identity_regexp=regexp, issuer=GITHUB_ISSUER)
    _names_the_fix(run_bash(artifact, kind, files, policy, trusted, tmp_path))


def test_other_log_entry_kinds_are_refused_naming_the_fix(instance, trusted, artifact, tmp_path) -> None:
    def v002(entry: dict) -> None:
        entry["kindVersion"]["version"] = "0.0.2"

    kind, files = write_shape("bundle", _edited_bundle(_sign(instance, artifact.read_bytes()), v002),
                              tmp_path / "evidence")
    _names_the_fix(run_bash(artifact, kind, files, POLICY, trusted, tmp_path))
    assert run_python(artifact, kind, files, POLICY, trusted) is not None


@pytest.mark.parametrize(("env", "message"), [
    ({"CRIO_CONTRACT_CERT_OIDC_ISSUER": GITHUB_ISSUER}, "exactly one"),
    ({"CRIO_CONTRACT_CERT_IDENTITY": "a", "CRIO_CONTRACT_CERT_IDENTITY_REGEXP": "b", "CRIO_CONTRACT_CERT_OIDC_ISSUER": GITHUB_ISSUER}, "exactly one"),
    ({"CRIO_CONTRACT_CERT_IDENTITY": "a"}, "oidc-issuer"),
])
def test_incomplete_policies_are_usage_errors(env, message, artifact, tmp_path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CERT_", "CRIO_CONTRACT_"))}
    (tmp_path / "a.bundle").write_text("{}")
    proc = subprocess.run(["bash", str(GET), "--contract", "keyless-verify", str(artifact), "bundle",
                           str(tmp_path / "a.bundle")], env={**base, **env}, capture_output=True, text=True)
    assert proc.returncode == ExitCode.USAGE
    assert message in proc.stderr


@pytest.mark.parametrize(("args", "code"), [
    (["sigcert"], ExitCode.VERIFICATION), (["sigcert", "/nonexistent.sig", "/nonexistent.cert", "/x"], ExitCode.VERIFICATION),
    (["bundle"], ExitCode.VERIFICATION), (["bundle", "/nonexistent.bundle"], ExitCode.VERIFICATION),
    (["cosign", "x"], ExitCode.USAGE),
])
def test_missing_evidence_or_an_unknown_kind_is_refused(args, code, artifact, tmp_path) -> None:
    env = _env(IdentityPolicy(identity=IDENTITY, issuer=GITHUB_ISSUER), None)
    proc = subprocess.run(["bash", str(GET), "--contract", "keyless-verify", str(artifact), *args], env=env,
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (code, "")
    assert len(proc.stderr.splitlines()) == 1


# Real public-good data, offline, with the roots embedded in scripts/get ---------------------------


PUBLIC = (DATA / "new_bundle.txt", "bundle", [DATA / "new_bundle.txt.sigstore.json"])
STAGING_FILES = (DATA / "offline-rekor.txt", [DATA / "offline-rekor.txt.sig", DATA / "offline-rekor.txt.crt",
                                             DATA / "offline-rekor.txt.bundle"])


def test_public_good_v03_bundle_verifies_offline_with_the_embedded_root(tmp_path) -> None:
    # sigstore-python's test asset: Rekor entry (SET, checkpoint, inclusion proof) + RFC 3161 timestamp.
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer=OAUTH)
    result = both(*PUBLIC, policy, None, tmp_path, verified=True)
    assert result.out == f"{int(datetime(2026, 8, 23, 17, 2, 0, tzinfo=UTC).timestamp())} aryadeeptade@gmail.com"


@pytest.mark.parametrize("policy", [
    IdentityPolicy(identity="someone@example.com", issuer=OAUTH),
    IdentityPolicy(identity_regexp="arya.*", issuer="https://accounts.google.com"),
    IdentityPolicy(identity_regexp="deeptade@gmail.com", issuer=OAUTH),
    UPSTREAM_SIGNER,
])
def test_public_good_bundle_refused_for_another_policy(policy, tmp_path) -> None:
    both(*PUBLIC, policy, None, tmp_path, verified=False)


def test_public_good_bundle_refused_for_other_bytes(tmp_path) -> None:
    other = tmp_path / "new_bundle.txt"
    other.write_bytes(PUBLIC[0].read_bytes() + b" ")
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer=OAUTH)
    assert "digest mismatch" in both(other, "bundle", PUBLIC[2], policy, None, tmp_path, verified=False).err


def test_public_good_bundle_needs_the_timestamp_authority_it_carries(tmp_path) -> None:
    root = json.loads(embedded_trusted_root_json(PUBLIC_GOOD))
    root["timestampAuthorities"] = []
    (tmp_path / "no-tsa.json").write_text(json.dumps(root))
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer=OAUTH)
    err = both(*PUBLIC, policy, tmp_path / "no-tsa.json", tmp_path, verified=False).err
    assert "timestamp authority" in err


def test_public_good_bundle_with_a_broken_timestamp_is_refused_naming_the_fix(tmp_path) -> None:
    data = json.loads(PUBLIC[2][0].read_bytes())
    stamp = data["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
    raw = bytearray(base64.b64decode(stamp["signedTimestamp"]))
    raw[-10] ^= 1  # inside the TSA's signature
    stamp["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()
    (tmp_path / "b.json").write_text(json.dumps(data))
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer=OAUTH)
    # crio/keyless skips a timestamp it cannot verify and relies on the log's time; this path refuses it.
    _names_the_fix(run_bash(PUBLIC[0], "bundle", [tmp_path / "b.json"], policy, None, tmp_path))


def test_staging_sig_cert_and_rekor_bundle_verify_with_a_trusted_root_file(tmp_path) -> None:
    root = tmp_path / "trusted_root.json"
    root.write_bytes(embedded_trusted_root_json(STAGING))
    policy = IdentityPolicy(identity="william@yossarian.net", issuer=OAUTH)
    assert both(STAGING_FILES[0], "sigcert", STAGING_FILES[1], policy, root, tmp_path,
                verified=True).out == "1665690514 william@yossarian.net"
    # The same evidence against the embedded public-good root: that log key never signed it.
    err = both(STAGING_FILES[0], "sigcert", STAGING_FILES[1], policy, None, tmp_path, verified=False).err
    assert "signed entry timestamp" in err


def test_embedded_trusted_root_is_the_sigstore_packages() -> None:
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "embed_trusted_root.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    printed = subprocess.run(["bash", "-c", f'source <(sed "$ d" {GET}); keyless_public_good_root'],
                             capture_output=True, check=True).stdout
    assert json.loads(printed) == json.loads(embedded_trusted_root_json(PUBLIC_GOOD))
