"""`-u` for an installation the installer recorded itself (an upstream-layout bundle): no script is run.

Such a record carries `#layout<TAB>upstream` (crio.artifacts.LAYOUT_KEY) and no
`#install-script`: upstream's install script ignores its arguments, so it can
neither list nor uninstall. The rules are the in-bundle script's `--uninstall`:
a file or config still holding the sha256 the record gives is removed, one
changed since is left and named, the record goes, then the directories the
install created are removed when empty (deepest first). Every row path passes
crio_installer.journal.destination_error first (scripts/get: `record_uninstall`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, INSTALL_RECORD, LAYOUT_KEY, LAYOUT_UPSTREAM
from crio.record import Kind, parse_record, read_metadata
from crio_installer.journal import destination_error
from crio_installer.node_files import open_regular

Log = Callable[[str], None]


def recorded_by_installer(sdir: Path) -> bool:
    """Whether the record below `sdir` says the installer itself wrote it (`#layout<TAB>upstream`)."""
    record = sdir / INSTALL_RECORD
    if record.is_symlink() or not record.is_file():
        return False
    return read_metadata(record.read_bytes().decode("utf-8", "surrogateescape")).get(LAYOUT_KEY) == LAYOUT_UPSTREAM


def file_sha256(path: Path) -> str | None:
    """sha256 of a regular file (None for anything else: a link, a directory, absent)."""
    try:
        with open_regular(path) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:        # absent, a link, not a regular file
        return None


def uninstall_recorded(sdir: Path, destdir: str, log: Log) -> None:
    """Remove what the record lists (unchanged files only), the record, then the empty directories it made."""
    record_path = sdir / INSTALL_RECORD
    record = parse_record(record_path.read_bytes().decode("utf-8", "surrogateescape"), str(record_path))
    removed = left = 0
    dirs: list[str] = []
    for row in record.rows:
        target = destdir + row.path
        why = destination_error(target, destdir)
        if why is not None:
            log(f"left {target}: not a destination of this install ({why})")
            continue
        if row.kind is Kind.DIR:
            dirs.append(target)
            continue
        if not os.path.lexists(target):
            continue
        if file_sha256(Path(target)) == row.sha256:
            os.unlink(target)
            log(f"removed {target}")
            removed += 1
        else:
            log(f"left {target}: changed since it was installed ({row.kind.value})")
            left += 1
    record_path.unlink()
    script = sdir / BUNDLE_INSTALL_SCRIPT
    if script.is_file() and not script.is_symlink():
        script.unlink()
    for directory in sorted(dirs, reverse=True):
        try:
            os.rmdir(directory)
        except OSError:
            pass
    log(f"uninstalled: removed {removed} files, left {left} changed")
