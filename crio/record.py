"""The install record `$DESTDIR$STATEDIR/record.tsv`: exactly what the in-bundle `install` wrote.

Written and read by the bundle's install script (bash: `record_row`,
`read_record`); held to this module by tests/get/test_get_contract.py through
`install --contract`. One row per path, tab-separated:

    PATH<TAB>SHA256<TAB>MODE<TAB>KIND      KIND is file, config or dir; a dir row has SHA256 `-`

Metadata lines `#KEY<TAB>VALUE` may come before the rows. Readers keep the
keys they know and ignore the rest, so later installers can record more
(revision, channel, build time) without breaking the uninstall of this one.
The installers stamp their keys after the install script wrote the record
(`with_metadata`); `#install-script` is the sha256 of the install script kept
in the state dir, which `-u` (uninstall) checks before running it.

A row's PATH is data found on the node: it must be absolute and normalised
(crio.paths: no `.`, `..` or empty component) and not `/`, or the whole
record is refused, so no row can make an uninstall or a stale-file cleanup
reach outside DESTDIR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from crio.errors import CrioError, ExitCode
from crio.paths import normalisation_error

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MODE_RE = re.compile(r"^0[0-7]{3}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_KINDS = ("file", "config", "dir")
ROW_FORMAT = "path<TAB>sha256<TAB>mode<TAB>file|config|dir"
#: The metadata key holding the sha256 of $DESTDIR$STATEDIR/install, written when installing.
INSTALL_SCRIPT_KEY = "install-script"


def path_error(path: str) -> str | None:
    """Why `path` cannot be a record row's path (None when it can)."""
    if path == "/":
        return "the root itself"
    return normalisation_error(path)


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
    if path_error(path) is not None:
        raise RecordError(f"record path {path!r}: accepted is an absolute path without tab, newline, "
                          "'.', '..' or empty components, other than /")
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
        if len(fields) != 4 or fields[3] not in _KINDS:
            raise RecordError(f"{where} line {number} is not '{ROW_FORMAT}': "
                              "remove it only if nothing is installed")
        why = path_error(fields[0])
        if why is not None:
            raise RecordError(f"{where} line {number}: the path is not absolute and normalised ({why}): "
                              "nothing is removed or replaced by this record")
        path, sha, mode, kind = fields
        record.rows.append(RecordRow(path, sha, mode, Kind(kind)))
    return record


def rows_by_path(record: Record) -> dict[str, RecordRow]:
    """The rows as the install script uses them: one per path, the last row of a path winning."""
    out: dict[str, RecordRow] = {}
    for row in record.rows:
        out[row.path] = row
    return out


def check_row_paths(text: str, where: str = "record.tsv") -> None:
    """The installers' own check before any install script reads the record: every row's first field is a
    path that cannot leave its root (older install scripts do not check it themselves). Lenient on the rest
    of the row, which is the script's format: blank and `#` lines are skipped."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line == "" or line.startswith("#"):
            continue
        why = path_error(line.split("\t", 1)[0])
        if why is not None:
            raise RecordError(f"{where} line {number}: the path is not absolute and normalised ({why}): "
                              "nothing is removed or replaced by this record")


def read_metadata(text: str) -> dict[str, str]:
    """Only the `#KEY<TAB>VALUE` lines of a record (first one of a key wins); the rows are the script's to read."""
    meta: dict[str, str] = {}
    for line in text.split("\n"):
        if line.startswith("#"):
            key, tab, value = line[1:].partition("\t")
            if tab and _KEY_RE.match(key):
                meta.setdefault(key, value)
    return meta


def with_metadata(text: str, meta: dict[str, str]) -> str:
    """The record `text` with each `#KEY<TAB>VALUE` of `meta` first (older lines of those keys dropped).

    Text-level on purpose: rows are kept byte for byte, whatever install script wrote them.
    """
    for key, value in meta.items():
        if not _KEY_RE.match(key) or any(c in value for c in "\t\n"):
            raise RecordError(f"record metadata {key!r}: accepted is #KEY<TAB>VALUE without tab or newline in VALUE")
    keep = [line for line in text.splitlines(keepends=True)
            if not (line.startswith("#") and line[1:].partition("\t")[0] in meta)]
    if keep and not keep[-1].endswith("\n"):
        keep[-1] += "\n"
    return "".join(f"#{key}\t{value}\n" for key, value in meta.items()) + "".join(keep)
