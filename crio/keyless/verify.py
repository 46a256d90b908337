"""Verify one artifact against a keyless signature in any of the shapes upstream has published.

Every failure becomes one CrioError with exit code 6 (verification) naming
the artifact and what did not hold; nothing here reaches the network.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from crio.checksums import sha256_digest
from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy, certificate_issuer, certificate_subjects
from crio.keyless.trust import load_trusted_root

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import TrustedRoot

#: How the signature was delivered (reported back, and how the installers describe it).
SHAPE_BUNDLE = "sigstore bundle"
SHAPE_COSIGN_BUNDLE = "cosign bundle"
SHAPE_DETACHED = "signature + certificate"


@dataclass(frozen=True)
class KeylessResult:
    """What a verified signature established: who signed, vouched for by which log, when."""

    artifact: str
    shape: str
    identity: str
    issuer: str
    signed_at: datetime
    log_index: int | None

    @property
    def log_time(self) -> int:
        """The verified time of the signature in unix seconds (the installers' downgrade rule compares it)."""
        return int(self.signed_at.timestamp())

    def line(self) -> str:
        when = self.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.artifact}: signed by {self.identity} ({self.issuer}) at {when}, {self.shape}"


def _fail(artifact: Path, reason: str) -> CrioError:
    return CrioError(f"keyless signature of {artifact.name} does not verify: {' '.join(reason.split())}",
                     ExitCode.VERIFICATION)


def _hashed(artifact: Path, digest: bytes | None = None):
    """The artifact's sha256; `digest` when the caller hashed the bytes already (a streamed download)."""
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    if digest is not None:
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
    try:
        return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=sha256_digest(artifact))
    except OSError as exc:
        raise CrioError(f"cannot read {artifact}: {exc.strerror}", ExitCode.VERIFICATION) from None


def parse_json(data: bytes, what: str) -> dict:
    """A JSON object, or a verification error naming `what`."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CrioError(f"{what} is not JSON", ExitCode.VERIFICATION) from None
    if not isinstance(value, dict):
        raise CrioError(f"{what} is not a JSON object", ExitCode.VERIFICATION)
    return value


def verify_bundle(artifact: Path, bundle: bytes, policy: IdentityPolicy, *,
                  trusted_root: TrustedRoot | None = None, digest: bytes | None = None) -> KeylessResult:
    """Verify `artifact` against a `.bundle` file's bytes: a Sigstore bundle or an older cosign bundle.

    With `digest` (the artifact's sha256), `artifact` only names it and is not read.
    """
    data = parse_json(bundle, f"the signature bundle of {artifact.name}")
    root = trusted_root if trusted_root is not None else load_trusted_root()
    if "mediaType" in data:
        return _verify_sigstore_bundle(artifact, bundle, policy, root, digest)
    if "rekorBundle" in data and "base64Signature" in data and "cert" in data:
        from crio.keyless.legacy import verify_legacy

        try:
            signature = base64.b64decode(data["base64Signature"], validate=True)
        except (ValueError, TypeError):
            raise _fail(artifact, "base64Signature is not base64") from None
        return verify_legacy(artifact, _hashed(artifact, digest), signature, str(data["cert"]).encode(),
                             data["rekorBundle"], policy, root, SHAPE_COSIGN_BUNDLE)
    raise _fail(artifact, "the bundle is neither a Sigstore bundle (mediaType) nor a cosign bundle "
                          "(base64Signature, cert, rekorBundle)")


def verify_detached(artifact: Path, signature: bytes, certificate: bytes, rekor_bundle: bytes | None,
                    policy: IdentityPolicy, *, trusted_root: TrustedRoot | None = None,
                    digest: bytes | None = None) -> KeylessResult:
    """Verify a `.sig` + `.cert` pair; offline this needs the Rekor bundle that proves the log entry."""
    if rekor_bundle is None:
        raise _fail(artifact, "a .sig + .cert pair carries no transparency-log evidence; verifying it needs "
                              "the .bundle beside it (or cosign online)")
    data = parse_json(rekor_bundle, f"the Rekor bundle of {artifact.name}")
    if "rekorBundle" in data:
        data = data["rekorBundle"]
    try:
        raw_signature = base64.b64decode(signature.strip(), validate=True)
    except ValueError:
        raise _fail(artifact, "the .sig file is not base64") from None
    from crio.keyless.legacy import verify_legacy

    root = trusted_root if trusted_root is not None else load_trusted_root()
    return verify_legacy(artifact, _hashed(artifact, digest), raw_signature, certificate, data, policy, root,
                         SHAPE_DETACHED)


def _verify_sigstore_bundle(artifact: Path, raw: bytes, policy: IdentityPolicy,
                            root: TrustedRoot, digest: bytes | None = None) -> KeylessResult:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier

    try:
        bundle = Bundle.from_json(raw)
    except (SigstoreError, ValueError) as exc:
        raise _fail(artifact, f"malformed Sigstore bundle: {exc}") from None
    try:
        Verifier(trusted_root=root).verify_artifact(_hashed(artifact, digest), bundle, policy.sigstore_policy())
    except (SigstoreError, ValueError) as exc:
        raise _fail(artifact, str(exc)) from None
    entry = bundle.log_entry._inner
    return _result(artifact, SHAPE_BUNDLE, bundle.signing_certificate, _signed_at(bundle),
                   int(entry.log_index) if entry.log_index is not None else None)


def _signed_at(bundle) -> datetime:
    """The log's integration time, else the earliest timestamp-authority time (Rekor v2 bundles)."""
    integrated = bundle.log_entry._inner.integrated_time
    if integrated:
        return datetime.fromtimestamp(int(integrated), tz=UTC)
    data = bundle.verification_material.timestamp_verification_data
    times = [ts.tst_info.gen_time for ts in (data.rfc3161_timestamps if data else [])]
    return min(times)  # verify_artifact refused a bundle with no verified time


def _result(artifact: Path, shape: str, cert: Certificate, signed_at: datetime,
            log_index: int | None) -> KeylessResult:
    return KeylessResult(artifact.name, shape, ", ".join(certificate_subjects(cert)) or "(none)",
                         certificate_issuer(cert) or "(none)", signed_at, log_index)
