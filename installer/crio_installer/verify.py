"""Fail-closed verification: the sha256 always, a signature whenever one is published.

The rule, shared with scripts/get: a published `.sig` needs a trusted key
(or the loudly named skip flag); a trusted key needs a published `.sig`
(otherwise stripping the signature would downgrade the check).
"""

from __future__ import annotations

from pathlib import Path

from crio.checksums import parse_sha256sum
from crio.errors import CrioError, ExitCode

SKIP_FLAG = "--insecure-skip-signature-verification"


def expected_digest(checksum_text: bytes, tarball_name: str) -> str:
    """The digest a `.sha256sum` file states for `tarball_name` (verification error if malformed)."""
    return parse_sha256sum(checksum_text.decode("utf-8", "replace"), tarball_name)


def check_digest(actual: str, expected: str, tarball_name: str) -> None:
    if actual != expected:
        raise CrioError(f"sha256 mismatch for {tarball_name}: expected {expected}, got {actual}", ExitCode.VERIFICATION)


def signature_policy(published: bool, key: Path | None, skip: bool, tarball_name: str, signature_url: str) -> bool:
    """Whether to verify a signature; raise when the combination must fail closed."""
    if skip:
        return False
    if published and key is None:
        raise CrioError(
            f"{tarball_name} is signed but no trusted key was given: pass -k KEY.pem (or set CRIO_VERIFY_KEY), "
            f"or {SKIP_FLAG}",
            ExitCode.VERIFICATION,
        )
    if not published and key is not None:
        raise CrioError(
            f"a trusted key was given but no signature is published for {tarball_name} ({signature_url})",
            ExitCode.VERIFICATION,
        )
    return published


def check_signature(digest: bytes, signature: bytes, key: Path, tarball_name: str) -> None:
    from crio.signing import verify_digest  # cryptography costs ~0.1 s to import; only signed bundles need it

    try:
        verify_digest(digest, signature, key.read_bytes(), tarball_name)
    except CrioError as exc:
        raise CrioError(f"{exc.message} {key}", ExitCode.VERIFICATION) from None
