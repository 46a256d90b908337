"""`--rollback`: put the kept previous installation back, transactionally (scripts/get: `rollback_previous`).

Under the root's lock, after recovery, `$STATEDIR/previous/` is checked like any
journal found on the node (crio_installer.journal, every rule; and none of its
paths may be the installer's own entries in the state dir; its record backup passes
the record's path rule), then replayed inside a NEW transaction over the union of
its paths: a failed or killed rollback is itself rolled back (by recovery) to the
installation before it. On success the new transaction, which holds what the
rollback replaced, becomes previous/: `--rollback` twice returns to the start.

It is an explicit downgrade (no downgrade refusal). A config the current record
lists whose content differs from the record (the admin changed it) is kept: the
restored version is written beside it as FILE.crio-new (not recorded; not when it
holds the same bytes), and a config
the previous installation did not have is left in place instead of removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from crio.artifacts import INSTALL_RECORD
from crio.errors import CrioError, ExitCode
from crio.paths import is_below
from crio.record import Kind, check_row_paths, parse_record, read_metadata, rows_by_path
from crio_installer import journal, previous, transaction
from crio_installer.destinations import check_destinations
from crio_installer.record_uninstall import file_sha256

Log = transaction.Log

#: The suffix a kept config's restored version gets (as the install script names a new one).
CONFIG_NEW_SUFFIX = ".crio-new"


def rollback_previous(destdir: str, log: Log, keep_previous: bool = True) -> None:
    """Restore previous/ under the lock in a new transaction; that one becomes previous/ unless `keep_previous` is False."""
    sdir = transaction.state_dir(destdir)
    with transaction._lock(destdir, log):
        transaction.recover(destdir, log)
        transaction.check_record(sdir)
        kept = previous.previous_dir(sdir)
        if not (kept.exists() or kept.is_symlink()):
            raise CrioError(f"no previous installation is kept ({kept} not found): nothing to roll back to "
                            "(a first install, --no-keep-previous and --uninstall keep none)", ExitCode.INSTALL)
        record = sdir / INSTALL_RECORD
        if record.is_symlink() or not record.is_file():
            raise CrioError(f"no installation recorded: {record} not found; nothing was changed", ExitCode.INSTALL)
        entries = check_previous(kept, destdir, sdir)
        changed = _changed_configs(record, destdir)
        paths: list[str] = []
        for entry in entries:
            if entry.kind == "newdir":
                continue
            paths.append(entry.path)
            if entry.kind == "saved" and entry.path in changed:
                paths.append(entry.path + CONFIG_NEW_SUFFIX)
        paths = list(dict.fromkeys(paths))
        check_destinations(paths, destdir)
        txn = transaction.begin(paths, destdir)
        try:
            _replay(kept, entries, changed, log)
        except OSError as exc:
            log(f"cannot restore {exc.filename}: {exc.strerror}")
            transaction.rollback(txn, destdir)
            raise CrioError("the rollback failed; the installation before it is restored", ExitCode.INSTALL) from None
        except BaseException:
            transaction.rollback(txn, destdir)
            raise
        transaction.commit(txn, destdir, keep_previous)
        _reload_systemd(destdir, entries, log)
        meta = read_metadata(record.read_bytes().decode("utf-8", "surrogateescape"))
        restored = f"CRI-O {meta['revision']} ({meta.get('arch', '-')})" if meta.get("revision") else \
            "the previous installation"
        log(f"rolled back to {restored}{previous.summary(sdir)}")


def check_previous(kept: Path, destdir: str, sdir: Path) -> list[journal.Entry]:
    """Every rule of a found journal, plus: no path is the installer's own (lock, transaction*, staging.*,
    previous), and the journal restores a record whose row paths pass the record's rule."""
    try:
        checked = journal.check(kept, destdir, sdir, replay=True)
        if not (kept / "ready").is_file():
            raise journal.JournalError(_why(kept, f"{kept / 'ready'} is missing: it is not a finished transaction"))
    except journal.JournalError as exc:
        raise journal.JournalError(_relabel(kept, exc.message)) from None
    record = str(sdir / INSTALL_RECORD)
    saved_record = None
    for number, entry in enumerate(checked.entries, start=1):
        if entry.path == str(sdir) or is_below(entry.path, str(sdir)):
            own = entry.path[len(str(sdir)) + 1:].split("/", 1)[0]
            if transaction._own(own):
                raise journal.JournalError(_previous_refused(
                    kept, f"{kept / 'journal'} line {number} ({entry.path!r}): the path is the installer's own {own}"))
        if entry.kind == "saved" and entry.path == record:
            saved_record = kept / "backup" / entry.index
    if saved_record is None or saved_record.is_symlink():
        raise journal.JournalError(_previous_refused(kept, "it restores no install record"))
    try:
        check_row_paths(saved_record.read_bytes().decode("utf-8", "surrogateescape"), str(saved_record))
    except CrioError as exc:
        raise journal.JournalError(_previous_refused(kept, exc.message)) from None
    return checked.entries


def _why(txn: Path, why: str) -> str:
    return f"unfinished transaction {txn} not replayed: {why}; nothing was changed: inspect it and remove it by hand"


def _previous_refused(kept: Path, why: str) -> str:
    return f"the kept previous installation {kept} is not restored: {why}; nothing was changed: " \
           "inspect it, or remove it by hand"


def _relabel(kept: Path, message: str) -> str:
    """journal.check's refusal, worded for previous/ (it is not an unfinished transaction)."""
    head, tail = f"unfinished transaction {kept} not replayed: ", \
        "; nothing was changed: inspect it and remove it by hand"
    if message.startswith(head) and message.endswith(tail):
        return _previous_refused(kept, message[len(head):-len(tail)])
    return message


def _changed_configs(record: Path, destdir: str) -> set[str]:
    """Config paths (DESTDIR applied) whose disk content is not what the current record says: the admin's."""
    rows = rows_by_path(parse_record(record.read_bytes().decode("utf-8", "surrogateescape"), str(record)))
    changed: set[str] = set()
    for row in rows.values():
        if row.kind != Kind.CONFIG:
            continue
        path = Path(destdir + row.path)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            changed.add(str(path))
        elif path.is_file() and file_sha256(path) != row.sha256:
            changed.add(str(path))
    return changed


#: Unit file suffixes whose change needs `systemctl daemon-reload` (as the install script reloads).
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path")


def _reload_systemd(destdir: str, entries: list[journal.Entry], log: Log) -> None:
    """On the live root with systemd running, reload units when the rollback touched one (never below DESTDIR)."""
    if destdir or not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return
    if any(e.kind != "newdir" and e.path.endswith(UNIT_SUFFIXES) for e in entries):
        if subprocess.run(["systemctl", "daemon-reload"], check=False).returncode != 0:
            log("WARNING: systemctl daemon-reload failed")


def _same_content(backup: Path, path: Path) -> bool:
    """Both regular files with the same bytes (a kept config that already is the version to restore)."""
    return all(p.is_file() and not p.is_symlink() for p in (backup, path)) and file_sha256(backup) == file_sha256(path)


def _replay(kept: Path, entries: list[journal.Entry], changed: set[str], log: Log) -> None:
    """Replay previous/'s journal backwards: restore saved files, remove absent ones, remove made directories.

    previous/ is only read (its backups are linked, never moved), so a failed replay leaves it whole.
    """
    for entry in reversed(entries):
        path = Path(entry.path)
        if entry.kind == "saved":
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry.path in changed:
                backup = kept / "backup" / entry.index
                if _same_content(backup, path):
                    continue
                transaction._restore(backup, Path(entry.path + CONFIG_NEW_SUFFIX))
                log(f"kept {path} (changed since it was installed); its earlier version is "
                    f"{path}{CONFIG_NEW_SUFFIX}")
            else:
                transaction._restore(kept / "backup" / entry.index, path)
        elif entry.kind == "absent":
            if entry.path in changed:
                log(f"kept {path} (changed since it was installed)")
            else:
                transaction._remove(path)
        else:
            try:
                os.rmdir(path)
            except OSError:
                pass
