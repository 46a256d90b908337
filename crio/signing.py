"""Detached signatures that a plain `openssl` can verify, in cosign's blob format.

A signature is the base64 of a DER ECDSA P-256 signature over the file's
SHA-256, the same bytes `cosign sign-blob --key` writes, so both
`cosign verify-blob --key KEY.pub --signature F.sig F` and
`base64 -d F.sig > s.der && openssl dgst -sha256 -verify KEY.pub -signature s.der F`
accept it. Keyless (sigstore) signing is not implemented here.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from crio.checksums import sha256_digest
from crio.errors import CrioError, ExitCode

#: Environment variables the pipeline and installers read keys from.
SIGNING_KEY_ENV = "CRIO_SIGNING_KEY"        # path of the PEM private key (CI secret file)
VERIFY_KEY_ENV = "CRIO_VERIFY_KEY"          # path of the PEM public key to trust


def generate_keypair() -> tuple[bytes, bytes]:
    """A new P-256 key pair as (private PEM, public PEM): for tests, the demo and key rotation."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def public_key_of(private_key_pem: bytes) -> bytes:
    """The PEM public half of a private key: what verifies its signatures."""
    return _load_private(private_key_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_private(pem: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CrioError(f"signing key is not an unencrypted PEM private key: {exc}", ExitCode.USAGE) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CrioError("signing key must be an ECDSA P-256 key", ExitCode.USAGE)
    return key


def _load_public(pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise CrioError(f"verification key is not a PEM public key: {exc}", ExitCode.USAGE) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CrioError("verification key must be an ECDSA P-256 public key", ExitCode.USAGE)
    return key


def sign_digest(digest: bytes, private_key_pem: bytes) -> bytes:
    """Signature text (base64 + newline) for a precomputed SHA-256 digest."""
    key = _load_private(private_key_pem)
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return base64.b64encode(der) + b"\n"


def sign_file(path: Path, private_key_pem: bytes) -> bytes:
    """Signature text (base64 + newline) of a file, streamed."""
    return sign_digest(sha256_digest(path), private_key_pem)


def verify_digest(digest: bytes, signature: bytes, public_key_pem: bytes, what: str) -> None:
    """Raise a verification error unless `signature` signs `digest` with the trusted key."""
    key = _load_public(public_key_pem)
    try:
        der = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CrioError(f"signature of {what} is not base64", ExitCode.VERIFICATION) from None
    try:
        key.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise CrioError(f"signature of {what} does not verify with the trusted key", ExitCode.VERIFICATION) from None


def verify_file(path: Path, signature: bytes, public_key_pem: bytes) -> None:
    """Raise a verification error unless `signature` is a valid signature of the file."""
    verify_digest(sha256_digest(path), signature, public_key_pem, path.name)
