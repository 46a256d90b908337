"""What is installed, compared with the install record: the findings of `--verify` (scripts/get has the same).

The record is checked whole first (crio.record: every row PATH<TAB>SHA256<TAB>MODE<TAB>KIND with a normalised
path, a sha256 of 64 lowercase hex digits or `-` for a dir, a mode like 0644): a record that fails is an
error (exit 7), never a list of findings. Then each recorded path (the last row of a path wins, in the order
paths first appear), and the stored install script against `#install-script`, is compared with the disk:

    missing  -       KIND  PATH   nothing there
    changed  type    KIND  PATH   something else than a regular file (file, config) or directory (dir)
    changed  mode    KIND  PATH   permission bits (with setuid/setgid/sticky) other than recorded
    changed  sha256  KIND  PATH   other content

Nothing is followed: entries are lstat'ed and files opened with O_NOFOLLOW, so a symlink where a file was is
a type change. Files are hashed in threads with large reads (hashlib releases the GIL).
"""

from __future__ import annotations

import hashlib
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, INSTALL_PREVIOUS_DIR, INSTALL_RECORD
from crio.errors import CrioError, ExitCode
from crio.record import INSTALL_SCRIPT_KEY, Kind, Record, RecordError, format_row, parse_record, rows_by_path
from crio_installer.node_files import open_regular

#: Kinds of entry as findings name them (lstat's file type).
_TYPES = ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"), (stat.S_ISFIFO, "fifo"),
          (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "char-device"), (stat.S_ISBLK, "block-device"))
_HEX64 = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Entry:
    """One thing the record says was installed: `path` below DESTDIR, `mode` '' when not recorded."""

    path: str
    kind: str          # file, config or dir
    sha256: str        # '-' for a dir
    mode: str


@dataclass(frozen=True)
class Finding:
    state: str         # missing | changed
    what: str          # - | type | mode | sha256
    kind: str          # the entry's kind: file, config, dir
    path: str          # on disk, DESTDIR included
    expected: str | None = None
    actual: str | None = None

    def line(self) -> str:
        """`changed  sha256  config  /etc/crio/crio.conf`: three fixed words, the path last."""
        return f"{self.state:<8} {self.what:<7} {self.kind:<7} {self.path}"


def type_name(mode: int) -> str:
    return next((name for test, name in _TYPES if test(mode)), "other")


def read_record(sdir: Path) -> tuple[Record, Path]:
    """The record, checked whole by crio.record's rules; no record is exit 7 ("no installation recorded")."""
    path = sdir / INSTALL_RECORD
    try:
        with open_regular(path) as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    except (FileNotFoundError, NotADirectoryError):
        raise CrioError(f"no installation recorded: {path} not found", ExitCode.INSTALL) from None
    except PermissionError:
        raise CrioError(f"cannot read {path}: permission denied (run as root)", ExitCode.NOT_ROOT) from None
    except OSError:        # a symlink, a FIFO, a directory
        raise CrioError(f"the record {path} is not a regular file", ExitCode.INSTALL) from None
    record = parse_record(text, str(path))
    for row in record.rows:
        format_row(row.path, row.sha256, row.mode, row.kind)   # sha256 and mode as a writer must spell them
    return record, path


def entries_of(record: Record, sdir: Path, destdir: str) -> list[Entry]:
    """Each recorded path once (last row wins, first-appearance order), then the stored install script."""
    out = [Entry(row.path, row.kind.value, row.sha256, row.mode) for row in rows_by_path(record).values()]
    script_sha = record.meta.get(INSTALL_SCRIPT_KEY, "")
    if len(script_sha) == 64 and set(script_sha) <= _HEX64:
        out.append(Entry(str(sdir / BUNDLE_INSTALL_SCRIPT)[len(destdir):], Kind.FILE.value, script_sha, ""))
    return out


def _sha256(path: str) -> str | None:
    """The content's sha256, read without following a link; None if it is no longer a regular file."""
    try:
        with open_regular(path) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except PermissionError:
        raise CrioError(f"cannot read {path}: permission denied (run as root)", ExitCode.NOT_ROOT) from None
    except OSError:        # absent, a link, not a regular file (swapped in meanwhile)
        return None


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def compare(entries: list[Entry], destdir: str) -> list[Finding]:
    """The findings for `entries` below `destdir`, in entry order (per entry: type, else mode then sha256)."""
    found: dict[int, list[Finding]] = {}
    to_hash: list[int] = []
    for index, entry in enumerate(entries):
        path = destdir + entry.path
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            found[index] = [Finding("missing", "-", entry.kind, path)]
            continue
        except PermissionError:
            raise CrioError(f"cannot read {path}: permission denied (run as root)", ExitCode.NOT_ROOT) from None
        want = "dir" if entry.kind == Kind.DIR.value else "file"
        have = type_name(st.st_mode)
        if have != want:
            found[index] = [Finding("changed", "type", entry.kind, path, want, have)]
            continue
        mode = f"{stat.S_IMODE(st.st_mode):04o}"
        if entry.mode and mode != entry.mode:
            found[index] = [Finding("changed", "mode", entry.kind, path, entry.mode, mode)]
        if want == "file":
            to_hash.append(index)
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        digests = list(pool.map(lambda i: _sha256(destdir + entries[i].path), to_hash))
    for index, digest in zip(to_hash, digests, strict=True):
        entry, path = entries[index], destdir + entries[index].path
        if digest is None:     # replaced while it was read
            found[index] = [Finding("changed", "type", entry.kind, path, "file", _type_now(path))]
        elif digest != entry.sha256:
            found.setdefault(index, []).append(Finding("changed", "sha256", entry.kind, path, entry.sha256, digest))
    return [finding for index in sorted(found) for finding in found[index]]


def _type_now(path: str) -> str:
    try:
        return type_name(os.lstat(path).st_mode)
    except OSError:
        return "missing"


def previous_bytes(sdir: Path) -> int | None:
    """Bytes of the regular files of a kept previous installation (hard links once); None when none is kept."""
    top = sdir / INSTALL_PREVIOUS_DIR
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return None
    except OSError:
        return None
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


__all__ = ["Entry", "Finding", "RecordError", "compare", "entries_of", "previous_bytes", "read_record", "type_name"]
