"""The previous installation, kept for `--rollback`: `$DESTDIR$STATEDIR/previous/` (scripts/get: `previous_*`).

It is the committed transaction of the last install (or rollback), kept instead of
discarded: its journal is the exact recipe that puts the installation before it back,
and its backups are hard links to the replaced inodes, so keeping it costs only the
space of the files it replaced. It exists exactly when a previous installation is kept.

A commit keeps it (`promote`) only when the transaction replaced an installation (its
journal saves the record): a first install onto an empty root keeps none, as there is
no installation to return to (`--uninstall` removes one). A commit that does not keep
(`--no-keep-previous`, a first install) removes an older previous/ (`drop`): it would
describe the installation before an earlier one. The choice is written into the
transaction (`keep`) before `committed`, so recovery finishes a killed commit the same way.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from crio.artifacts import INSTALL_RECORD

#: The kept previous installation, in the state dir.
PREVIOUS_NAME = "previous"
#: Written into a transaction before `committed` when the commit keeps it as previous/.
KEEP_MARK = "keep"


def previous_dir(sdir: Path) -> Path:
    return sdir / PREVIOUS_NAME


def saves_record(txn: Path, sdir: Path) -> bool:
    """Whether the transaction's journal backs up the install record: it replaced an installation."""
    wanted = str(sdir / INSTALL_RECORD)
    try:
        lines = (txn / "journal").read_bytes().decode("utf-8", "surrogateescape").split("\n")
    except OSError:
        return False
    return any(line.split("\t")[0] == "saved" and line.split("\t", 2)[-1] == wanted for line in lines)


def _away(path: Path) -> Path:
    """Rename `path` to a name recovery sweeps (transaction.done.*), so a half-removed one is never read."""
    gone = path.with_name(f"transaction.done.{os.getpid()}.{PREVIOUS_NAME}")
    path.rename(gone)
    return gone


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def promote(txn: Path) -> None:
    """Make the committed transaction the kept previous installation, replacing an older one.

    The older one is renamed away first (rename(2) cannot replace a non-empty directory), then the
    transaction renamed in, then the older one removed: a kill in between leaves the committed
    transaction, which recovery promotes again.
    """
    target = previous_dir(txn.parent)
    old = _away(target) if target.exists() or target.is_symlink() else None
    txn.rename(target)
    if old is not None:
        _remove_tree(old)


def drop(sdir: Path) -> None:
    """Remove the kept previous installation, if any (renamed away first)."""
    target = previous_dir(sdir)
    if target.exists() or target.is_symlink():
        _remove_tree(_away(target))


def kept_bytes(sdir: Path) -> int:
    """Bytes of the replaced files only previous/ still holds (what removing it would free).

    The backups are hard links: one still linked elsewhere costs nothing more.
    """
    backup = previous_dir(sdir) / "backup"
    if backup.is_symlink() or not backup.is_dir():
        return 0
    total = 0
    with os.scandir(backup) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                total += st.st_size
    return total


def summary(sdir: Path) -> str:
    """The end of the install summary line: the space a kept previous installation takes ('' when none)."""
    target = previous_dir(sdir)
    if target.is_symlink() or not target.is_dir():
        return ""
    return f"; previous installation kept for --rollback ({kept_bytes(sdir)} bytes)"
