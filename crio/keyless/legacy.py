"""Older cosign signatures: a certificate, a signature and a Rekor bundle holding a signed entry timestamp.

sigstore-python verifies only bundles that carry an inclusion proof, which
these never do, so the checks are made here, in the order of the bundle
verifier and with its building blocks: the signed entry timestamp (SET)
with the trusted root's Rekor key, the entry body against this signature,
certificate and artifact digest, the chain to Fulcio at the logged time, the
embedded SCT, the Sigstore X.509 profile, the identity policy, the logged
time inside the certificate's validity, and the signature itself.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy


def _fail(artifact: Path, reason: str) -> CrioError:
    return CrioError(f"keyless signature of {artifact.name} does not verify: {reason}", ExitCode.VERIFICATION)


def load_certificate(text: bytes):
    """A PEM certificate, or the base64 of one (how cosign writes `.cert` and `cert`)."""
    from cryptography import x509

    data = text.strip()
    if not data.startswith(b"-----BEGIN"):
        try:
            data = base64.b64decode(data, validate=True).strip()
        except (ValueError, binascii.Error):
            raise ValueError("neither PEM nor base64 of PEM") from None
    return x509.load_pem_x509_certificate(data)


def _entry(rekor: Any) -> tuple[bytes, str, int, int, str, bytes]:
    """(body, body_b64, integrated_time, log_index, log_id_hex, set) from a Rekor bundle, or ValueError."""
    if not isinstance(rekor, dict) or not isinstance(rekor.get("Payload"), dict):
        raise ValueError("the Rekor bundle has no Payload")
    payload = rekor["Payload"]
    body_b64 = payload["body"]
    return (base64.b64decode(body_b64, validate=True), body_b64, int(payload["integratedTime"]),
            int(payload["logIndex"]), str(payload["logID"]), base64.b64decode(rekor["SignedEntryTimestamp"]))


def verify_legacy(artifact: Path, hashed, signature: bytes, certificate: bytes, rekor: Any,
                  policy: IdentityPolicy, root, shape: str):
    """Check a SET-only log entry end to end; returns the KeylessResult."""
    from cryptography.x509 import ExtensionNotFound
    from sigstore.errors import Error as SigstoreError

    from crio.keyless.verify import _result

    try:
        cert = load_certificate(certificate)
    except ValueError as exc:
        raise _fail(artifact, f"the certificate cannot be read: {exc}") from None
    try:
        body, body_b64, integrated, log_index, log_id, set_sig = _entry(rekor)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise _fail(artifact, f"the Rekor bundle is malformed: {type(exc).__name__} {exc}") from None
    signed_at = datetime.fromtimestamp(integrated, tz=UTC)
    try:
        _check_set(root, body_b64, integrated, log_index, log_id, set_sig)
        _check_body(body, hashed, signature, cert)
        _check_certificate(root, cert, signed_at, policy)
        _check_signature(cert, hashed, signature)
    except ExtensionNotFound as exc:
        raise _fail(artifact, f"the certificate lacks an extension: {exc}") from None
    except (SigstoreError, ValueError) as exc:
        raise _fail(artifact, " ".join(str(exc).split())) from None
    return _result(artifact, shape, cert, signed_at, log_index)


def _check_set(root, body_b64: str, integrated: int, log_index: int, log_id: str, set_sig: bytes) -> None:
    import rfc8785
    from sigstore._internal.trust import KeyringPurpose
    from sigstore._utils import KeyID
    from sigstore.errors import VerificationError

    canonical = rfc8785.dumps({"body": body_b64, "integratedTime": integrated, "logID": log_id,
                               "logIndex": log_index})
    try:
        key_id = KeyID(bytes.fromhex(log_id))
    except ValueError:
        raise VerificationError(f"log ID {log_id!r} is not hex") from None
    try:
        root.rekor_keyring(KeyringPurpose.VERIFY).verify(key_id=key_id, signature=set_sig, data=canonical)
    except VerificationError as exc:
        raise VerificationError(f"signed entry timestamp: {exc}") from None


def _check_body(body: bytes, hashed, signature: bytes, cert) -> None:
    """The logged entry is for this digest, this signature and this certificate (CVE-2022-36056)."""
    import json

    from cryptography.hazmat.primitives.serialization import Encoding
    from sigstore.errors import VerificationError

    try:
        entry = json.loads(body)
        spec = entry["spec"]
        kind = (entry["kind"], entry["apiVersion"])
        logged_hash = spec["data"]["hash"]
        logged_sig = base64.b64decode(spec["signature"]["content"])
        logged_cert = load_certificate(base64.b64decode(spec["signature"]["publicKey"]["content"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise VerificationError(f"the log entry body is malformed: {type(exc).__name__}") from None
    if kind != ("hashedrekord", "0.0.1"):
        raise VerificationError(f"the log entry is {kind[0]} {kind[1]}, expected hashedrekord 0.0.1")
    if logged_hash.get("algorithm") != "sha256" or logged_hash.get("value") != hashed.digest.hex():
        raise VerificationError(f"the log entry is for sha256 {logged_hash.get('value')}, "
                                f"not this artifact's {hashed.digest.hex()}")
    if logged_sig != signature:
        raise VerificationError("the log entry records another signature")
    if logged_cert.public_bytes(Encoding.DER) != cert.public_bytes(Encoding.DER):
        raise VerificationError("the log entry records another certificate")


def _check_certificate(root, cert, signed_at: datetime, policy: IdentityPolicy) -> None:
    from cryptography.x509 import ExtendedKeyUsage, KeyUsage
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
    from cryptography.x509.verification import VerificationError as X509Error
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import VerificationError

    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    verifier = (PolicyBuilder().store(Store(root.get_fulcio_certs())).time(signed_at)
                .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())
    try:
        chain = verifier.verify(cert, []).chain[1:]
    except X509Error as exc:
        raise VerificationError(f"the certificate does not chain to the trusted Fulcio roots at "
                                f"{signed_at:%Y-%m-%dT%H:%M:%SZ}: {exc}") from None
    verify_sct(cert, chain, root.ct_keyring(KeyringPurpose.VERIFY))
    if not cert.extensions.get_extension_for_class(KeyUsage).value.digital_signature:
        raise VerificationError("the certificate's key usage is not digital signature")
    if ExtendedKeyUsageOID.CODE_SIGNING not in cert.extensions.get_extension_for_class(ExtendedKeyUsage).value:
        raise VerificationError("the certificate's extended key usage lacks code signing")
    policy.sigstore_policy().verify(cert)
    if not cert.not_valid_before_utc <= signed_at <= cert.not_valid_after_utc:
        raise VerificationError(f"the certificate was not valid at the logged time {signed_at:%Y-%m-%dT%H:%M:%SZ}")


def _check_signature(cert, hashed, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore.errors import VerificationError

    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError("the certificate's key is not ECDSA")
    try:
        key.verify(signature, hashed.digest, ec.ECDSA(hashed._as_prehashed()))
    except InvalidSignature:
        raise VerificationError("the signature does not match this artifact") from None
