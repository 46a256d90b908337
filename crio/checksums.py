"""sha256 of files and the `sha256sum` text format every side reads and writes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from crio.errors import CrioError, ExitCode

CHUNK = 1 << 20
_LINE_RE = re.compile(r"^(?P<digest>[0-9a-f]{64}) [ *](?P<name>[^\n/]+)$")


def sha256_digest(path: Path) -> bytes:
    """Raw sha256 of a file, streamed in 1 MiB chunks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return sha256_digest(path).hex()


def format_sha256sum(digest: str, name: str) -> str:
    """One `sha256sum -c` line: `<hex>  <name>`."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or "/" in name or "\n" in name:
        raise ValueError(f"cannot format a checksum line for {name!r}")
    return f"{digest}  {name}\n"


def parse_sha256sum(text: str, expected_name: str) -> str:
    """The digest of `expected_name` from a one-line sha256sum file; anything else is a verification error."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise CrioError(
            f"checksum file for {expected_name} must hold exactly one line, found {len(lines)}",
            ExitCode.VERIFICATION,
        )
    match = _LINE_RE.match(lines[0].strip())
    if not match:
        raise CrioError(f"checksum file for {expected_name} is not in sha256sum format", ExitCode.VERIFICATION)
    if match["name"] != expected_name:
        raise CrioError(
            f"checksum file names {match['name']!r}, expected {expected_name!r}", ExitCode.VERIFICATION
        )
    return match["digest"]
