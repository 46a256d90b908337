"""Keyless verification (crio.keyless): real public Sigstore bundles offline, and a local test instance.

The local instance (tests/helpers/sigstore_instance.py) signs in the three
shapes upstream has published; each refusal changes exactly one fact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers.sigstore_instance import GITHUB_ISSUER, LocalSigstore

from crio.errors import CrioError, ExitCode
from crio.keyless import UPSTREAM_SIGNER, IdentityPolicy, load_trusted_root, verify_bundle, verify_detached
from crio.keyless.trust import STAGING, embedded_trusted_root_json

DATA = Path(__file__).resolve().parent.parent / "data" / "sigstore"
IDENTITY = "https://github.com/example/release/.github/workflows/release.yml@refs/heads/main"
REPO = "example/release"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=GITHUB_ISSUER, github_workflow_repository=REPO,
                        github_workflow_ref="refs/heads/main")
SHAPES = ("bundle", "cosign-bundle", "sig+cert")


# Real public bundles (public test data of sigstore-python, with their identities) ----------------


def test_public_good_v03_bundle_verifies_offline_with_the_embedded_root() -> None:
    # sigstore-python test/assets/new_bundle.txt(.sigstore.json): signed on the public-good instance
    # (rekor.sigstore.dev, with an RFC 3161 timestamp) by this e-mail identity through GitHub's OAuth.
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer="https://github.com/login/oauth")
    result = verify_bundle(DATA / "new_bundle.txt", (DATA / "new_bundle.txt.sigstore.json").read_bytes(), policy)
    assert result.identity == "aryadeeptade@gmail.com"
    assert result.issuer == "https://github.com/login/oauth"
    assert result.log_index == 2574120827
    assert result.signed_at == datetime(2026, 8, 23, 17, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("policy", "reason"), [
    (IdentityPolicy(identity="someone@example.com", issuer="https://github.com/login/oauth"), "identity"),
    (IdentityPolicy(identity_regexp="arya.*", issuer="https://accounts.google.com"), "OIDC issuer"),
    (UPSTREAM_SIGNER, "identity"),
])
def test_public_good_bundle_refused_for_another_policy(policy: IdentityPolicy, reason: str) -> None:
    with pytest.raises(CrioError, match=reason) as exc:
        verify_bundle(DATA / "new_bundle.txt", (DATA / "new_bundle.txt.sigstore.json").read_bytes(), policy)
    assert exc.value.exit_code == ExitCode.VERIFICATION


def test_public_good_bundle_refused_for_other_bytes(tmp_path: Path) -> None:
    other = tmp_path / "new_bundle.txt"
    other.write_bytes((DATA / "new_bundle.txt").read_bytes() + b" ")
    policy = IdentityPolicy(identity="aryadeeptade@gmail.com", issuer="https://github.com/login/oauth")
    with pytest.raises(CrioError, match="digest mismatch"):
        verify_bundle(other, (DATA / "new_bundle.txt.sigstore.json").read_bytes(), policy)


def test_staging_sig_cert_and_rekor_bundle_verify_with_a_trusted_root_file(tmp_path: Path) -> None:
    # sigstore-python test/assets/offline-rekor.txt(.sig, .crt, .bundle): signed 2022 on Sigstore's
    # staging instance; its Rekor bundle carries only a signed entry timestamp (the older shape).
    root = tmp_path / "trusted_root.json"
    root.write_bytes(embedded_trusted_root_json(STAGING))
    policy = IdentityPolicy(identity="william@yossarian.net", issuer="https://github.com/login/oauth")
    args = ((DATA / "offline-rekor.txt.sig").read_bytes(), (DATA / "offline-rekor.txt.crt").read_bytes(),
            (DATA / "offline-rekor.txt.bundle").read_bytes(), policy)
    result = verify_detached(DATA / "offline-rekor.txt", *args, trusted_root=load_trusted_root(root))
    assert result.signed_at == datetime.fromtimestamp(1665690514, tz=UTC)
    # The same evidence against the public-good root: that log key never signed it.
    with pytest.raises(CrioError, match="signed entry timestamp"):
        verify_detached(DATA / "offline-rekor.txt", *args)


# The local test instance ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instance() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture
def trusted(instance: LocalSigstore, tmp_path: Path):
    return load_trusted_root(instance.write_trusted_root(tmp_path / "trusted_root.json"))


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "cri-o.amd64.v1.36.0.tar.gz"
    path.write_bytes(b"bundle bytes " * 1000)
    return path


def _verify(shape: str, artifact: Path, signed, policy: IdentityPolicy, trusted):
    if shape == "bundle":
        return verify_bundle(artifact, signed.bundle_v03(), policy, trusted_root=trusted)
    if shape == "cosign-bundle":
        return verify_bundle(artifact, signed.cosign_bundle(), policy, trusted_root=trusted)
    return verify_detached(artifact, signed.sig_file(), signed.cert_file(),
                           json.dumps(signed.rekor_bundle()).encode(), policy, trusted_root=trusted)


def _refused(shape: str, artifact: Path, signed, policy: IdentityPolicy, trusted) -> str:
    with pytest.raises(CrioError) as exc:
        _verify(shape, artifact, signed, policy, trusted)
    assert exc.value.exit_code == ExitCode.VERIFICATION
    assert artifact.name in exc.value.message
    return exc.value.message


@pytest.mark.parametrize("shape", SHAPES)
def test_good_signature_is_accepted(shape, instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main")
    result = _verify(shape, artifact, signed, POLICY, trusted)
    assert (result.identity, result.issuer, result.log_index) == (IDENTITY, GITHUB_ISSUER, signed.log_index)
    assert result.signed_at == datetime.fromtimestamp(signed.integrated_time, tz=UTC)
    regexp = IdentityPolicy(identity_regexp=r"https://github\.com/example/release/.*@refs/heads/.*",
                            issuer=GITHUB_ISSUER)
    assert _verify(shape, artifact, signed, regexp, trusted).identity == IDENTITY


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_identity_is_refused(shape, instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY.replace("release.yml", "other.yml"),
                           repository=REPO, ref="refs/heads/main")
    assert "other.yml" in _refused(shape, artifact, signed, POLICY, trusted)
    # A regexp matches whole identities only: a prefix of a longer identity is not enough.
    prefix = IdentityPolicy(identity_regexp=r"https://github\.com/example/release/\.github", issuer=GITHUB_ISSUER)
    _refused(shape, artifact, signed, prefix, trusted)


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_issuer_is_refused(shape, instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, issuer="https://gitlab.com",
                           repository=REPO, ref="refs/heads/main")
    assert "issuer" in _refused(shape, artifact, signed, POLICY, trusted)


@pytest.mark.parametrize("shape", SHAPES)
def test_wrong_repository_or_ref_is_refused(shape, instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository="attacker/release", ref="refs/heads/main")
    assert "repository" in _refused(shape, artifact, signed, POLICY, trusted)
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/feature")
    assert "ref" in _refused(shape, artifact, signed, POLICY, trusted)


@pytest.mark.parametrize("shape", SHAPES)
def test_certificate_outside_its_validity_at_the_logged_time_is_refused(shape, instance, trusted,
                                                                         artifact) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main",
                           not_before=start, logged_at=start + timedelta(minutes=30))
    message = _refused(shape, artifact, signed, POLICY, trusted)
    assert "expired" in message or "valid" in message


@pytest.mark.parametrize("shape", SHAPES)
def test_log_evidence_for_another_body_is_refused(shape, instance, trusted, artifact) -> None:
    other = instance.sign(b"another artifact", IDENTITY, repository=REPO, ref="refs/heads/main")
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main",
                           logged_body=other.body)
    message = _refused(shape, artifact, signed, POLICY, trusted)
    assert "log entry" in message or "transparency log" in message


@pytest.mark.parametrize("shape", SHAPES)
def test_tampered_artifact_is_refused(shape, instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main")
    artifact.write_bytes(artifact.read_bytes().replace(b"bundle", b"bungle", 1))
    _refused(shape, artifact, signed, POLICY, trusted)


@pytest.mark.parametrize("shape", SHAPES)
def test_bundle_for_another_artifact_is_refused(shape, instance, trusted, artifact, tmp_path) -> None:
    signed = instance.sign(b"the arm64 tarball", IDENTITY, repository=REPO, ref="refs/heads/main")
    _refused(shape, artifact, signed, POLICY, trusted)


@pytest.mark.parametrize("shape", SHAPES)
def test_chain_to_another_root_is_refused(shape, instance, trusted, artifact) -> None:
    rogue = LocalSigstore(name="rogue")
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main", ca=rogue)
    message = _refused(shape, artifact, signed, POLICY, trusted)
    assert "chain" in message or "certificate" in message


@pytest.mark.parametrize("shape", SHAPES)
def test_log_signed_by_another_key_is_refused(shape, trusted, artifact) -> None:
    rogue = LocalSigstore(name="rogue")
    signed = rogue.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main")
    _refused(shape, artifact, signed, POLICY, trusted)


def test_bundle_with_a_forged_checkpoint_is_refused(instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main")
    data = json.loads(signed.bundle_v03())
    entry = data["verificationMaterial"]["tlogEntries"][0]
    envelope = entry["inclusionProof"]["checkpoint"]["envelope"]
    end = envelope.index("\n\n")  # a line added to the signed note: its signature no longer holds
    entry["inclusionProof"]["checkpoint"]["envelope"] = envelope[:end] + "\nTimestamp: 1" + envelope[end:]
    with pytest.raises(CrioError, match="checkpoint: invalid signature"):
        verify_bundle(artifact, json.dumps(data).encode(), POLICY, trusted_root=trusted)


def test_sig_and_cert_without_log_evidence_are_refused_naming_the_bundle(instance, trusted, artifact) -> None:
    signed = instance.sign(artifact.read_bytes(), IDENTITY, repository=REPO, ref="refs/heads/main")
    with pytest.raises(CrioError, match=r"\.bundle") as exc:
        verify_detached(artifact, signed.sig_file(), signed.cert_file(), None, POLICY, trusted_root=trusted)
    assert exc.value.exit_code == ExitCode.VERIFICATION


@pytest.mark.parametrize("garbage", [b"", b"[]", b"{}", b'{"mediaType": "application/x-nope"}', b"\xff"])
def test_garbage_bundles_are_refused(garbage: bytes, trusted, artifact) -> None:
    with pytest.raises(CrioError) as exc:
        verify_bundle(artifact, garbage, POLICY, trusted_root=trusted)
    assert exc.value.exit_code == ExitCode.VERIFICATION


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"issuer": GITHUB_ISSUER}, "exactly one"),
    ({"identity": "a", "identity_regexp": "b", "issuer": GITHUB_ISSUER}, "exactly one"),
    ({"identity": "a"}, "oidc-issuer"),
    ({"identity_regexp": "(", "issuer": GITHUB_ISSUER}, "regexp"),
    ({"identity": "a", "issuer": GITHUB_ISSUER, "github_workflow_repository": "nope"}, "OWNER/REPO"),
])
def test_incomplete_policies_are_usage_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(CrioError, match=message) as exc:
        IdentityPolicy(**kwargs)
    assert exc.value.exit_code == ExitCode.USAGE


def test_unreadable_or_malformed_trusted_root_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CrioError, match="cannot read") as exc:
        load_trusted_root(tmp_path / "missing.json")
    assert exc.value.exit_code == ExitCode.USAGE
    (tmp_path / "bad.json").write_text('{"mediaType": "nope"}')
    with pytest.raises(CrioError, match=r"not a Sigstore trusted_root\.json"):
        load_trusted_root(tmp_path / "bad.json")


def test_upstream_signer_is_the_packaging_workflow() -> None:
    assert UPSTREAM_SIGNER.identity == "https://github.com/cri-o/packaging/.github/workflows/obs.yml@refs/heads/main"
    assert UPSTREAM_SIGNER.issuer == GITHUB_ISSUER
    assert UPSTREAM_SIGNER.github_workflow_repository == "cri-o/packaging"
