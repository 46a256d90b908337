"""What the install record says verified an install (`signer`) and when (`install-time`), for --status.

Apart from crio_installer.inspect (which reads them back) because every install writes them:
inspect's readers (the record comparison, its thread pool, the shared lock) are not needed then.
"""

from __future__ import annotations

#: Metadata the installers add for --status (beside crio.downgrade's revision, arch, channel, build-time).
META_SIGNER = "signer"
META_INSTALL_TIME = "install-time"
#: `signer` values: what verified the bundle that was installed.
SIGNER_NONE = "none"          # no signature published and no key: the sha256 only
SIGNER_SKIPPED = "skipped"    # --insecure-skip-signature-verification
SIGNER_KEY_PREFIX = "key-sha256:"
SIGNER_KEYLESS_PREFIX = "keyless:"


def signer_value(key_pem: bytes | None, skipped: bool) -> str:
    """The `signer` metadata of an install: the -k key's fingerprint (sha256 of its DER), or how it was not signed."""
    if skipped:
        return SIGNER_SKIPPED
    if key_pem is None:
        return SIGNER_NONE
    import hashlib

    from cryptography.hazmat.primitives import serialization

    try:
        der = serialization.load_pem_public_key(key_pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except ValueError:
        return SIGNER_KEY_PREFIX + "unknown"
    return SIGNER_KEY_PREFIX + hashlib.sha256(der).hexdigest()
