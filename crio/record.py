"""The install record `$DESTDIR$STATEDIR/record.tsv`: exactly what the in-bundle `install` wrote.

Written and read by the bundle's install script (bash: `record_row`,
`read_record`); held to this module by tests/get/test_get_contract.py through
`install --contract`. One row per path, tab-separated:

    PATH<TAB>SHA256<TAB>MODE<TAB>KIND      KIND is file, config or dir; a dir row has SHA256 `-`

Metadata lines `#KEY<TAB>VALUE` may come before the rows. Readers keep the
keys they know and ignore the rest, so later installers can record more
(revision, channel, build time) without breaking the uninstall of this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from crio.errors import CrioError, ExitCode

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MODE_RE = re.compile(r"^0[0-7]{3}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_KINDS = ("file", "config", "dir")
ROW_FORMAT = "path<TAB>sha256<TAB>mode<TAB>file|config|dir"


class RecordError(CrioError):
    exit_code = ExitCode.INSTALL


class Kind(StrEnum):
    FILE = "file"
    CONFIG = "config"   # kept when the admin changed it
    DIR = "dir"         # created by the install; removed when empty


@dataclass(frozen=True)
class RecordRow:
    path: str
    sha256: str
    mode: str
    kind: Kind

    def format(self) -> str:
        return format_row(self.path, self.sha256, self.mode, self.kind)


@dataclass
class Record:
    rows: list[RecordRow] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    def format(self) -> str:
        head = [f"#{key}\t{value}" for key, value in self.meta.items()]
        return "".join(line + "\n" for line in head + [row.format() for row in self.rows])


def format_row(path: str, sha256: str, mode: str, kind: Kind | str) -> str:
    """One record line (no newline); refuses what a reader could not read back."""
    if kind not in _KINDS:
        raise RecordError(f"record row for {path}: kind {kind!r} is not file, config or dir")
    kind = Kind(kind)
    if not path.startswith("/") or any(c in path for c in "\t\n"):
        raise RecordError(f"record path {path!r}: accepted is an absolute path without tab or newline")
    if kind is Kind.DIR and sha256 != "-":
        raise RecordError(f"record row for directory {path}: the sha256 field of a dir is '-'")
    if kind is not Kind.DIR and not _SHA256_RE.match(sha256):
        raise RecordError(f"record row for {path}: sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if not _MODE_RE.match(mode):
        raise RecordError(f"record row for {path}: mode must be octal like 0644, got {mode!r}")
    return f"{path}\t{sha256}\t{mode}\t{kind.value}"


def parse_record(text: str, where: str = "record.tsv") -> Record:
    """Read a record by the install script's rule: a bad row fails the whole record (exit 7)."""
    record = Record()
    for number, line in enumerate(text.split("\n"), start=1):
        if line == "" and number == text.count("\n") + 1:
            break
        if line.startswith("#"):
            key, tab, value = line[1:].partition("\t")
            if tab and _KEY_RE.match(key):
                record.meta.setdefault(key, value)
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0].startswith("/") or fields[3] not in _KINDS:
            raise RecordError(f"{where} line {number} is not '{ROW_FORMAT}': "
                              "remove it only if nothing is installed")
        path, sha, mode, kind = fields
        record.rows.append(RecordRow(path, sha, mode, Kind(kind)))
    return record


def rows_by_path(record: Record) -> dict[str, RecordRow]:
    """The rows as the install script uses them: one per path, the last row of a path winning."""
    out: dict[str, RecordRow] = {}
    for row in record.rows:
        out[row.path] = row
    return out
