"""Keyless signing with the CI job's own identity: one call into `sigstore` per file.

Runs where an ambient OIDC credential exists (GitHub Actions with
`id-token: write`): sigstore-python exchanges it at Fulcio for a short-lived
certificate, signs, and logs the signature in Rekor; the returned Sigstore
bundle is what `NAME.bundle` holds. Nothing here is exercised against a
real Sigstore instance by the tests (see README, "What is untested"); the
bundles it writes are verified by crio.keyless like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from crio.checksums import sha256_digest
from crio.errors import CrioError, ExitCode


@contextmanager
def ambient_signer(trust_config: Path | None = None) -> Iterator[Callable[[Path], bytes]]:
    """Yield `sign(path) -> bundle JSON bytes`, using the ambient CI credential and the public-good
    instance (or the ClientTrustConfig JSON in `trust_config`)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken, detect_credential
    from sigstore.sign import SigningContext
    from sigstore_models.common.v1 import HashAlgorithm

    try:
        token = detect_credential()
    except SigstoreError as exc:
        raise CrioError(f"keyless signing: the ambient OIDC credential failed: {exc}", ExitCode.CREDENTIALS) from None
    if token is None:
        raise CrioError("keyless signing needs an ambient OIDC credential: run it in GitHub Actions with "
                        "`permissions: id-token: write` (or sign with --key)", ExitCode.CREDENTIALS)
    try:
        config = (ClientTrustConfig.from_json(trust_config.read_text(encoding="utf-8")) if trust_config
                  else ClientTrustConfig.production())
        context = SigningContext.from_trust_config(config)
    except (SigstoreError, OSError, ValueError) as exc:
        raise CrioError(f"keyless signing: no Sigstore trust configuration: {exc}", ExitCode.CREDENTIALS) from None
    with context.signer(IdentityToken(token), cache=True) as signer:
        def sign(path: Path) -> bytes:
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=sha256_digest(path))
            try:
                return signer.sign_artifact(hashed).to_json().encode() + b"\n"
            except SigstoreError as exc:
                raise CrioError(f"keyless signing of {path.name} failed: {' '.join(str(exc).split())}",
                                ExitCode.CREDENTIALS) from None

        yield sign
