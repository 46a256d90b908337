"""An unfinished transaction found under DESTDIR, read as data: all of it is checked before any of it is replayed.

The transaction directory may have been planted, moved from another root or
cut short, so before a rollback restores or removes anything every line must
pass (scripts/get's `txn_check` applies the same rules):

- `journal`: `saved<TAB>N<TAB>PATH` (N a number and backup/N a regular file or
  symlink inside the transaction's own backup directory), `absent<TAB>0<TAB>PATH`
  or `newdir<TAB>0<TAB>PATH`; PATH a destination (`destination_error`); a
  `saved` PATH that is a non-empty directory now is refused (the replay never
  removes a tree);
- `statedirs`: the state directory or its ancestors, below DESTDIR when set;
- `statefiles`: paths below the state directory (blank lines allowed);
- no file of the transaction is a symlink, and none holds a NUL byte.

A transaction that fails is not replayed: one error naming the file and line,
exit 7, nothing deleted; the admin inspects and removes it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from crio.errors import CrioError, ExitCode
from crio.paths import is_below, normalisation_error
from crio_installer.node_files import NotRegularFile, open_regular

KINDS = ("saved", "absent", "newdir")


class JournalError(CrioError):
    exit_code = ExitCode.INSTALL


@dataclass(frozen=True)
class Entry:
    kind: str
    index: str
    path: str


@dataclass
class Transaction:
    """What a transaction directory says, once checked."""

    entries: list[Entry] = field(default_factory=list)
    statedirs: list[str] = field(default_factory=list)
    statefiles: set[str] | None = None     # None: no listing (nothing is swept)


def destination_error(path: str, destdir: str) -> str | None:
    """Why an installer may not back up, restore or remove `path` (None when it may).

    Absolute and normalised, not `/`; with DESTDIR, below it, and its directory
    still below it once symlinks are resolved.
    """
    why = normalisation_error(path)
    if why is not None:
        return why
    if path == "/":
        return "the root itself"
    if destdir:
        if not is_below(path, destdir):
            return f"not below DESTDIR {destdir}"
        root = os.path.realpath(destdir)
        parent = os.path.realpath(os.path.dirname(path))
        if parent != root and not is_below(parent, root):
            return f"its directory resolves to {parent}, outside DESTDIR"
    return None


def _read_lines(path: Path, txn: Path) -> list[str] | None:
    """The lines of one transaction file (None when absent); refuses links, non-files and NULs."""
    try:
        with open_regular(path) as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except NotRegularFile:
        raise _refuse(txn, f"{path} is not a regular file") from None
    except OSError as exc:
        raise _refuse(txn, f"{path} cannot be read safely ({exc.strerror}, a symlink?)") from None
    if b"\0" in data:
        raise _refuse(txn, f"{path} holds a NUL byte")
    text = data.decode("utf-8", "surrogateescape")
    if text and not text.endswith("\n"):
        raise _refuse(txn, f"{path} line {text.count(chr(10)) + 1} is cut off (no newline)")
    return text.split("\n")[:-1]


def _refuse(txn: Path, why: str) -> JournalError:
    return JournalError(f"unfinished transaction {txn} not replayed: {why}; nothing was changed: "
                        "inspect it and remove it by hand")


def check(txn: Path, destdir: str, sdir: Path, replay: bool) -> Transaction:
    """Read and check `txn` (the statedirs only, unless `replay`); JournalError (exit 7) on the first bad line."""
    for name in ("", "backup"):
        probe = txn / name if name else txn
        if probe.is_symlink() or (probe.exists() and not probe.is_dir()):
            raise _refuse(txn, f"{probe} is not a directory")
    out = Transaction()
    state = str(sdir)
    for number, line in enumerate(_read_lines(txn / "statedirs", txn) or [], start=1):
        why = normalisation_error(line) or ("the root itself" if line == "/" else None)
        if why is None and destdir and not is_below(line, destdir):
            why = f"not below DESTDIR {destdir}"
        if why is None and line != state and not is_below(state, line):
            why = f"not the state directory {state} or one of its parents"
        if why is not None:
            raise _refuse(txn, f"{txn / 'statedirs'} line {number} ({line!r}): {why}")
        out.statedirs.append(line)
    if not replay:
        return out
    files = _read_lines(txn / "statefiles", txn)
    if files is not None:
        out.statefiles = set()
        for number, line in enumerate(files, start=1):
            if line and (normalisation_error(line) or not is_below(line, state)):
                raise _refuse(txn, f"{txn / 'statefiles'} line {number} ({line!r}): not below {state}")
            out.statefiles.add(line)
    for number, line in enumerate(_read_lines(txn / "journal", txn) or [], start=1):
        out.entries.append(_entry(txn, number, line, destdir))
    return out


def _entry(txn: Path, number: int, line: str, destdir: str) -> Entry:
    """One journal line, checked: kind, index (and its backup) and path."""
    where = f"{txn / 'journal'} line {number} ({line!r})"
    fields = line.split("\t")
    if len(fields) != 3 or fields[0] not in KINDS:
        raise _refuse(txn, f"{where}: not KIND<TAB>INDEX<TAB>PATH with KIND saved, absent or newdir")
    kind, index, path = fields
    why = destination_error(path, destdir)
    if why is not None:
        raise _refuse(txn, f"{where}: the path is not a destination of this install ({why})")
    if kind != "saved":
        if index != "0":
            raise _refuse(txn, f"{where}: the index of an {kind} line is 0")
        return Entry(kind, index, path)
    if not (index.isascii() and index.isdigit() and not index.startswith("0") and len(index) <= 9):
        raise _refuse(txn, f"{where}: the backup index must be a number 1-999999999")
    try:
        mode = os.lstat(txn / "backup" / index).st_mode
    except OSError:
        raise _refuse(txn, f"{where}: backup/{index} is missing") from None
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise _refuse(txn, f"{where}: backup/{index} is not a regular file or symlink")
    target = Path(path)
    if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
        raise _refuse(txn, f"{where}: {path} is a non-empty directory now; the replay never removes a tree")
    return Entry(kind, index, path)
