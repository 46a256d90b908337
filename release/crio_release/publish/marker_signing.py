"""Signed markers on the publisher's side: a signing publish signs every marker it moves, in the same step.

The signature file (`latest-X.txt.sig`, format in crio.signed_marker) is written right after the
marker's compare-and-swap, by its own compare-and-swap: read the signature's generation, then read
the marker; only if the marker still names this revision is the signature written, conditional on
that generation. A publisher that moved the marker further wrote (or will write) its own signature,
and either one's write fails its condition if the other came between, so the last signature in the
bucket is always the one for the revision the marker names. The publication time never goes back:
it is at least one second after the previous statement's, whatever the clocks say.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from crio.artifacts import MARKER_CACHE_CONTROL, marker_signature_name
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker
from crio.revision import Revision
from crio.signed_marker import MarkerStatement, parse_marker_signature, sign_marker
from crio.signing import public_key_of, verify_digest, verify_file
from crio_release.publish.storage import PreconditionFailed, Storage

SIGNATURE_CONTENT_TYPE = "text/plain"
CAS_ATTEMPTS = 40


def _previous(data: bytes | None) -> tuple[MarkerStatement, bytes] | None:
    if data is None:
        return None
    try:
        return parse_marker_signature(data)
    except CrioError:
        return None


def _signs(previous: tuple[MarkerStatement, bytes] | None, marker: str, revision: Revision,
           public_pem: bytes) -> bool:
    """Whether an existing signature file already signs this marker and revision with this key."""
    import hashlib

    if previous is None or previous[0].marker != marker or previous[0].revision != str(revision):
        return False
    try:
        verify_digest(hashlib.sha256(previous[0].statement()).digest(), previous[1], public_pem, marker)
    except CrioError:
        return False
    return True


def sign_moved_marker(storage: Storage, marker: str, revision: Revision, key_pem: bytes,
                      now: int | None = None) -> str:
    """Write `marker`'s signature for `revision` unless it is there already; returns one report line."""
    path = marker_signature_name(marker)
    public = public_key_of(key_pem)
    for attempt in range(CAS_ATTEMPTS):
        found = storage.read(path)
        generation = found[1].generation if found else 0
        previous = _previous(found[0] if found else None)
        if _signs(previous, marker, revision, public):
            return f"signature {path}: already signs {revision} (published {previous[0].published})"  # type: ignore[index]
        current = storage.read(marker)
        named = read_marker(current[0], marker) if current else None
        if named != revision:
            return f"signature {path}: not written, {marker} names {named or 'nothing'} now (its publisher signs it)"
        published = max(int(time.time()) if now is None else now, previous[0].published + 1 if previous else 0)
        data = sign_marker(MarkerStatement(marker, str(revision), published), key_pem)
        try:
            storage.write_bytes(path, data, content_type=SIGNATURE_CONTENT_TYPE, cache_control=MARKER_CACHE_CONTROL,
                                if_generation_match=generation)
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
            continue
        return f"signature {path}: signed {marker} -> {revision} (published {published})"
    raise CrioError(f"signature of {marker} kept changing: gave up after {CAS_ATTEMPTS} compare-and-swap attempts",
                    ExitCode.MARKER)


def check_marker_signing(storage: Storage, markers: list[str], key_pem: bytes | None,
                         signed_manifest: tuple[Path, bytes] | None) -> None:
    """Before any write: a signed set, or a marker signed in the bucket, needs the key to sign its move.

    `signed_manifest` is the set's revision manifest and its signature when the set is signed; the
    key given must be the one that signed it (markers and artifacts are checked with one public key).
    """
    set_signed = signed_manifest is not None
    if key_pem is not None:
        if signed_manifest is not None:
            try:
                verify_file(signed_manifest[0], signed_manifest[1], public_key_of(key_pem))
            except CrioError:
                raise CrioError(f"the signing key did not sign {signed_manifest[0].name}: markers must be signed "
                                "with the key that signed the set", ExitCode.USAGE) from None
        return
    if not markers:
        return
    signed = [m for m in markers if storage.stat(marker_signature_name(m)) is not None]
    if set_signed or signed:
        why = "the set is signed" if set_signed else f"{', '.join(signed)} is signed in the bucket"
        raise CrioError(f"{why}: the markers this publish moves ({', '.join(markers)}) must be signed too; "
                        "pass --key FILE.pem (or set CRIO_SIGNING_KEY)", ExitCode.USAGE)
