"""Signed markers: `latest-X.txt.sig` binds a marker to the revision it names and when it was published.

The publisher, when it signs, writes beside every marker it moves one small text file
(`crio.artifacts.marker_signature_name`), exactly five lines:

    crio-marker 1
    marker latest-1.22.txt
    revision v1.22.3
    published 1767225600
    signature MEUCIQ...

The first four lines (each with its newline) are the *statement*; the last is the base64 DER ECDSA
P-256 signature over the statement's SHA-256 (crio.signing's format, so `openssl dgst -sha256 -verify`
checks it). One object carries both, so a reader never pairs a statement with another signature.
`published` is seconds since 1970, strictly increasing per marker (the publisher never writes one
lower than the marker's previous statement), so an installer that recorded the statement it installed
from can refuse an older one replayed by a mirror.

Installers given a key verify the signature, then require the statement to name the marker they
read and the revision it holds, and (same channel as the install record) not to be older than
the recorded publication time. scripts/get parses by the same rule (`--contract marker_statement`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision

HEADER = "crio-marker 1"
#: A marker signature file longer than this is refused before it is read.
MAX_MARKER_SIGNATURE_BYTES = 4096
_LINES = (
    re.compile(r"^crio-marker 1$"),
    re.compile(r"^marker (latest-[A-Za-z0-9._-]+\.txt)$"),
    re.compile(r"^revision ([0-9A-Za-z.+-]+)$"),
    re.compile(r"^published (0|[1-9][0-9]{0,14})$"),
    re.compile(r"^signature ([A-Za-z0-9+/]+={0,2})$"),
)


class MarkerSignatureError(CrioError):
    exit_code = ExitCode.VERIFICATION


@dataclass(frozen=True)
class MarkerStatement:
    marker: str
    revision: str
    published: int

    def statement(self) -> bytes:
        """The signed bytes."""
        return f"{HEADER}\nmarker {self.marker}\nrevision {self.revision}\npublished {self.published}\n".encode()

    def contract_text(self) -> str:
        return f"{self.marker} {self.revision} {self.published}"


def format_marker_signature(statement: MarkerStatement, signature_b64: bytes) -> bytes:
    """The file the publisher writes: the statement, then `signature BASE64`."""
    return statement.statement() + b"signature " + signature_b64.strip() + b"\n"


def sign_marker(statement: MarkerStatement, private_key_pem: bytes) -> bytes:
    """The marker signature file of `statement`, signed with the publisher's key."""
    from crio.signing import sign_digest

    return format_marker_signature(statement, sign_digest(hashlib.sha256(statement.statement()).digest(),
                                                          private_key_pem))


def parse_marker_signature(data: bytes, name: str = "the marker signature") -> tuple[MarkerStatement, bytes]:
    """(statement, base64 signature) of a marker signature file; anything else is a verification error."""
    if len(data) > MAX_MARKER_SIGNATURE_BYTES:
        raise MarkerSignatureError(f"{name} is larger than {MAX_MARKER_SIGNATURE_BYTES} bytes")
    if not data.endswith(b"\n") or data.count(b"\n") != len(_LINES):
        raise MarkerSignatureError(f"{name} is not {len(_LINES)} lines (crio-marker 1, marker, revision, "
                                   "published, signature)")
    values = []
    for line, pattern in zip(data[:-1].split(b"\n"), _LINES, strict=True):
        match = pattern.match(line.decode("ascii", "replace"))
        if match is None:
            raise MarkerSignatureError(f"{name} has an unreadable line {line[:40]!r}")
        values.append(match.groups()[0] if match.groups() else "")
    revision = values[2]
    try:
        canonical = str(parse_revision(revision))
    except CrioError:
        canonical = ""
    if canonical != revision:
        raise MarkerSignatureError(f"{name} names {revision[:80]!r}, which is not a revision as markers spell it")
    return MarkerStatement(values[1], revision, int(values[3])), values[4].encode()


def verify_marker_signature(data: bytes, public_key_pem: bytes, marker: str, revision: str,
                            not_before: int | None) -> MarkerStatement:
    """Check a marker signature file against the marker that was read; returns the statement.

    Order: the signature must verify with the key (else nothing in the file is believed), then the
    statement must name `marker` (not another channel's), the `revision` the marker holds, and be
    published no earlier than `not_before` (the publication time of the statement recorded at the
    last install from this channel: an older one is a replay).
    """
    from crio.signing import verify_digest  # cryptography is imported only when a key is given

    name = f"{marker}.sig"
    statement, signature = parse_marker_signature(data, name)
    verify_digest(hashlib.sha256(statement.statement()).digest(), signature, public_key_pem, name)
    if statement.marker != marker:
        raise MarkerSignatureError(f"{name} is signed for {statement.marker}, not {marker}: "
                                   "a marker of another channel")
    if statement.revision != revision:
        raise MarkerSignatureError(f"{marker} names {revision} but its signature is for {statement.revision}")
    if not_before is not None and statement.published < not_before:
        raise MarkerSignatureError(
            f"{marker} was signed at {statement.published}, before the statement the installed revision came "
            f"from ({not_before}): an older marker replayed")
    return statement
