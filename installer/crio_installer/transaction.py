"""Transactional install around the bundle's own install script, journal-compatible with scripts/get.

Layout below $DESTDIR/var/lib/crio-install/transaction/: `journal` lines
`saved<TAB>N<TAB>PATH` (backup in backup/N), `absent<TAB>0<TAB>PATH`,
`newdir<TAB>0<TAB>DIR`; `statedirs` (state directories this run created),
`ready`, `committed`. Either installer can roll back the other's interrupted
run: the journal is replayed backwards, and removed by renaming first so an
interrupted removal is never replayed. A journal is data found on the node:
it is checked whole before any of it is replayed (crio_installer.journal), and
only under the root's lock (crio_installer.lock), so a live transaction of
another run is never taken for an interrupted one. A transaction without
`ready` never reached the install script: nothing is replayed, it is dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_TOP, INSTALL_RECORD, INSTALL_STATE_DIR
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.record import INSTALL_SCRIPT_KEY, check_row_paths, with_metadata
from crio_installer import adoption, journal, previous, script_options
from crio_installer.destinations import check_destinations
from crio_installer.lock import LOCK_NAME, RootLock, lock_timeout_from_env
from crio_installer.planned_run import PlannedRun

Log = Callable[[str], None]


def state_dir(destdir: str) -> Path:
    """$DESTDIR$STATEDIR: where the bundle's install script keeps its record (STATEDIR as it honours it)."""
    return Path(f"{destdir}{os.environ.get('STATEDIR') or INSTALL_STATE_DIR}")


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        try:
            path.rmdir()
        except OSError:
            pass
    elif _exists(path):
        path.unlink()


def _copy(src: Path, dst: Path) -> None:
    """cp -a for one file or symlink (the fallback when a hard link cannot be made)."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst)
        st = src.stat()
        try:
            os.chown(dst, st.st_uid, st.st_gid)
        except PermissionError:
            pass


def _keep(path: Path, backup: Path) -> None:
    """Back up `path` as `backup` without writing its bytes: a hard link to the same inode.

    The install only ever replaces destinations by rename (never writes into them), so the
    linked inode keeps the old content, mode, owner and times exactly. Across file systems (or
    where links are refused) it falls back to a copy.
    """
    try:
        os.link(path, backup, follow_symlinks=False)
    except OSError:
        _copy(path, backup)


def _restore(backup: Path, path: Path) -> None:
    """Put `backup` back at `path` in one rename (a link beside it first, so a replay can run again).

    A path that still is the backed-up inode (never replaced) is left as it is: rename(2) between two
    links of one inode does nothing.
    """
    try:
        if os.path.samestat(os.lstat(path), os.lstat(backup)):
            return
    except FileNotFoundError:
        pass
    beside = path.with_name(f".crio-restore.{os.getpid()}.{path.name}"[:255])
    _remove(beside)
    try:
        os.link(backup, beside, follow_symlinks=False)
    except OSError:
        _copy(backup, beside)
    if path.is_dir() and not path.is_symlink():
        _remove(path)           # an (empty) directory: the check refused non-empty ones
    os.replace(beside, path)


#: Private staging directories (one per run, under the state dir, created under the lock).
STAGING_PREFIX = "staging."


def _own(name: str) -> bool:
    """The transaction's own entries, staging directories, the kept previous installation and the lock:
    never backed up, restored or swept."""
    return name.startswith(("transaction", STAGING_PREFIX)) or name in (LOCK_NAME, previous.PREVIOUS_NAME)


def _state_entries(sdir: Path) -> list[str]:
    """Entries below the state dir, deepest last, the transaction's own directories and the lock left out."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(sdir):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == sdir and _own(d))]
        out.extend(os.path.join(dirpath, n) for n in dirnames + filenames
                   if not (Path(dirpath) == sdir and _own(n)))
    return out


def _sweep_state(txn: Path, keep: set[str] | None) -> None:
    """Remove what appeared in the state dir during the transaction (the install script's temporary files)."""
    if keep is None:
        return
    for entry in sorted(_state_entries(txn.parent), key=lambda p: p.count("/"), reverse=True):
        if entry not in keep:
            _remove(Path(entry))


def discard(txn: Path, destdir: str, statedirs: list[str] | None = None) -> None:
    """Remove a transaction directory (renamed first), and the state dirs it made when nothing is installed."""
    if statedirs is None:
        statedirs = journal.check(txn, destdir, state_dir(destdir), replay=False).statedirs
    done = txn.with_name(f"transaction.done.{os.getpid()}")
    txn.rename(done)
    shutil.rmtree(done, ignore_errors=True)
    if statedirs and not (state_dir(destdir) / INSTALL_RECORD).exists():
        for path in reversed(statedirs):
            try:
                os.rmdir(path)
            except OSError:
                pass


#: Names the install script (mktemp beside each destination) and `_restore` give their temporary entries.
TEMP_PATTERNS = (".crio-install.??????", ".crio-restore.*")


def sweep_temporaries(entries: list[journal.Entry]) -> None:
    """Remove what a killed run left beside the journal's destinations: the install script's temporary
    directories and files, and half-done restores. They are named only by us, and their directories
    passed the journal's destination check (inside the roots)."""
    parents = {Path(e.path).parent for e in entries if e.kind != "newdir"} | \
        {Path(e.path) for e in entries if e.kind == "newdir"}
    for parent in parents:
        if parent.is_symlink() or not parent.is_dir():
            continue
        for pattern in TEMP_PATTERNS:
            for leftover in parent.glob(pattern):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)


def rollback(txn: Path, destdir: str) -> None:
    """Check the whole journal, then replay it backwards: restore saved files, remove new files and directories.

    A journal that fails the check is not replayed at all (JournalError, exit 7).
    """
    replay = (txn / "ready").exists()
    checked = journal.check(txn, destdir, state_dir(destdir), replay=replay)
    sweep_temporaries(checked.entries)
    for entry in reversed(checked.entries):
        path = Path(entry.path)
        if entry.kind == "saved":
            path.parent.mkdir(parents=True, exist_ok=True)
            _restore(txn / "backup" / entry.index, path)
        elif entry.kind == "absent":
            _remove(path)
        elif entry.kind == "newdir":
            try:
                path.rmdir()
            except OSError:
                pass
    _sweep_state(txn, checked.statefiles)
    discard(txn, destdir, checked.statedirs)


def recover(destdir: str, log: Log) -> None:
    """Finish what an interrupted run (of either installer) left behind."""
    sdir = state_dir(destdir)
    for leftover in sdir.glob("transaction.done.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    # Only the lock holder makes staging directories: any found now was left by a killed run.
    for stale in sdir.glob(f"{STAGING_PREFIX}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    txn = sdir / "transaction"
    if not (txn.is_dir() or txn.is_symlink()):
        return
    if (txn / "committed").exists() and not txn.is_symlink():
        checked = journal.check(txn, destdir, sdir, replay=True)
        sweep_temporaries(checked.entries)
        _finish_committed(txn, destdir, checked.statedirs)
    else:
        log("an earlier install was interrupted: restoring the installation it started from")
        rollback(txn, destdir)


def begin(paths: list[str], destdir: str) -> Path:
    """Back up every destination that exists and journal those that do not."""
    sdir = state_dir(destdir)
    missing: list[Path] = []
    probe = sdir
    while not probe.exists() and str(probe) not in ("/", destdir):
        missing.insert(0, probe)
        probe = probe.parent
    sdir.mkdir(parents=True, exist_ok=True)
    # Everything already in the state dir is backed up too: the install script's own temporary
    # files there are swept on rollback (statefiles lists what was there).
    before = _state_entries(sdir)
    txn = sdir / "transaction"
    txn.mkdir(mode=0o700)
    (txn / "backup").mkdir(mode=0o700)
    (txn / "statefiles").write_text("".join(f"{p}\n" for p in before))
    paths = list(dict.fromkeys([*paths, *(str(p) for p in before if not (Path(p).is_dir() and not Path(p).is_symlink()))]))
    (txn / "statedirs").write_text("".join(f"{p}\n" for p in missing))
    seen_dirs: set[Path] = set()
    index = 0
    with open(txn / "journal", "w") as journal:
        for text in paths:
            path = Path(text)
            if _exists(path):
                if path.is_dir() and not path.is_symlink():
                    continue
                index += 1
                _keep(path, txn / "backup" / str(index))
                journal.write(f"saved\t{index}\t{path}\n")
            else:
                new_dirs: list[Path] = []
                parent = path.parent
                while not parent.exists() and str(parent) != "/" and parent not in seen_dirs:
                    new_dirs.insert(0, parent)
                    seen_dirs.add(parent)
                    parent = parent.parent
                for d in new_dirs:
                    journal.write(f"newdir\t0\t{d}\n")
                journal.write(f"absent\t0\t{path}\n")
            journal.flush()
    (txn / "ready").touch()
    return txn


def commit(txn: Path, destdir: str, keep_previous: bool = True) -> None:
    """Mark the transaction done; keep it as previous/ when it replaced an installation (crio_installer.previous)."""
    if keep_previous and previous.saves_record(txn, state_dir(destdir)):
        (txn / previous.KEEP_MARK).touch()
    (txn / "committed").touch()
    _finish_committed(txn, destdir)


def _finish_committed(txn: Path, destdir: str, statedirs: list[str] | None = None) -> None:
    """A committed transaction becomes previous/ (when marked to keep), or is discarded with any older previous/."""
    if (txn / previous.KEEP_MARK).exists():
        previous.promote(txn)
    else:
        previous.drop(state_dir(destdir))
        discard(txn, destdir, statedirs)


def check_plan_paths(paths: list[str], destdir: str) -> None:
    """Every path the bundle's `install --list` printed is one this install may back up and replace."""
    for path in paths:
        why = journal.destination_error(path, destdir)
        if why is not None:
            raise CrioError(f"the bundle's install --list printed {path!r}, which is not a destination of this "
                            f"install ({why}); nothing was changed", ExitCode.INSTALL)


def stamp_record(sdir: Path, meta: dict[str, str]) -> None:
    """Put `#KEY<TAB>VALUE` metadata lines first in the record the install script wrote (rows kept as written).

    Written beside the record (exclusive create, no links followed) and renamed over it, inside the
    transaction: a failure rolls the install back.
    """
    record = sdir / INSTALL_RECORD
    if record.is_symlink() or not record.is_file():
        return
    text = with_metadata(record.read_bytes().decode("utf-8", "surrogateescape"), meta)
    staged = sdir / f".record.stamp.{os.getpid()}"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text.encode("utf-8", "surrogateescape"))
    os.chmod(staged, 0o644)
    os.replace(staged, record)


def check_record(sdir: Path) -> None:
    """Refuse a record with a row path that could leave the root, before any install script reads it."""
    record = sdir / INSTALL_RECORD
    if record.is_file():
        check_row_paths(record.read_bytes().decode("utf-8", "surrogateescape"), str(record))


def _lock(destdir: str, log: Log) -> RootLock:
    """The root's lock; its path is checked like any destination (no symlinked directory leads it out)."""
    sdir = state_dir(destdir)
    why = journal.destination_error(str(sdir / LOCK_NAME), destdir)
    if why is not None:
        raise CrioError(f"the state directory {sdir} cannot hold the lock ({why}); nothing was changed",
                        ExitCode.INSTALL)
    return RootLock(sdir, sdir / INSTALL_RECORD, lock_timeout_from_env(), log)


@contextmanager
def private_staging(destdir: str, log: Log) -> Iterator[tuple[RootLock, Path]]:
    """Under the root's lock: recover, sweep stale staging, and lend a fresh 0700 directory in the state dir.

    The state dir is on the destinations' file system in the usual layout, so the install script
    can rename the unpacked files into place (one write per file). Only the lock holder makes
    staging directories, so any other one found here was left by a killed run: it is removed.
    """
    sdir = state_dir(destdir)
    with _lock(destdir, log) as lock:
        recover(destdir, log)
        check_record(sdir)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=sdir))
        try:
            yield lock, staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def install_bundle(staging: Path, destdir: str, log: Log, verified_sha256: str | None = None,
                   record_meta: dict[str, str] | None = None, held: RootLock | None = None,
                   keep_previous: bool = True) -> None:
    """Run `cri-o/install` in a transaction, under the root's lock: on failure the previous installation is restored.

    `verified_sha256`: the tarball's sha256, when it was verified and every file was checked against
    manifest.json while extracting; an install script that offers --verified-tarball then skips
    hashing every file again (older ones are run as they are). `record_meta`: metadata for the
    record (revision, channel, build time), passed to a script that offers --record-meta. The sha256
    of the install script (which it keeps in the state dir) is recorded for `-u` (uninstall). `held`: the lock,
    when the caller took it with `private_staging` (the bundle then lies in that staging directory,
    and a script that offers --move-sources renames its files into place). `keep_previous`: keep the
    replaced installation as previous/ for --rollback (False: --no-keep-previous).
    """
    if held is None:
        with _lock(destdir, log) as lock:
            recover(destdir, log)
            check_record(state_dir(destdir))
            _install_locked(staging, destdir, log, lock, verified_sha256, record_meta or {}, move=False,
                            keep_previous=keep_previous)
    else:
        _install_locked(staging, destdir, log, held, verified_sha256, record_meta or {}, move=True,
                        keep_previous=keep_previous)


def _install_locked(staging: Path, destdir: str, log: Log, lock: RootLock, verified_sha256: str | None,
                    record_meta: dict[str, str], move: bool, keep_previous: bool = True) -> None:
    """The transaction itself: plan, check, journal, run the script, stamp, commit.

    A script that declares plan-fd is run once (crio_installer.planned_run): it sends its plan and
    installs exactly that plan once it is journaled; an older one plans with `install --list` and is
    run again to install.
    """
    bundle = staging / BUNDLE_TOP
    extra = script_options.offered_options(bundle, verified_sha256, record_meta, log, move)
    script_sha256 = sha256_file(bundle / BUNDLE_INSTALL_SCRIPT)
    sdir = state_dir(destdir)
    once = script_options.plans_once(bundle)
    with PlannedRun(bundle, extra, lock.fd) if once else nullcontext() as run:
        raw = run.plan() if run is not None else _listed(bundle)
        paths = list(dict.fromkeys([*raw, str(sdir / INSTALL_RECORD), str(sdir / BUNDLE_INSTALL_SCRIPT)]))
        check_plan_paths(paths, destdir)
        adopted = adoption.find(destdir, sdir, log)   # an upstream installation: removed inside the transaction
        paths = list(dict.fromkeys([*paths, *adopted.paths]))
        check_destinations(paths, destdir)   # refuse FIFOs, directories, links out of DESTDIR
        txn = begin(paths, destdir)
        log(f"installing {len(raw)} files")
        try:
            adoption.remove(adopted)
            if run is not None:
                returncode = run.go()
            else:
                returncode = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", *extra], cwd=bundle,
                                            check=False, pass_fds=(lock.fd,)).returncode
            if returncode == 0:
                stamp_record(sdir, {INSTALL_SCRIPT_KEY: script_sha256})
        except BaseException:
            rollback(txn, destdir)
            raise
    if returncode != 0:
        log(f"the bundle's install script failed (exit {returncode}): restoring the previous installation")
        rollback(txn, destdir)
        if returncode == ExitCode.VERIFICATION:
            # The script's own verification failure: the bundle is bad, not the host.
            raise CrioError("the bundle failed its own verification; the previous installation is restored",
                            ExitCode.VERIFICATION)
        raise CrioError(f"install failed (exit {returncode}); the previous installation is restored",
                        ExitCode.INSTALL)
    commit(txn, destdir, keep_previous)
    adoption.retire(adopted, log)


def _listed(bundle: Path) -> list[str]:
    """The plan of an install script without plan-fd: the lines its `install --list` prints (blank ones dropped)."""
    listed = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", "--list"], cwd=bundle,
                            capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        first = (listed.stderr.strip().splitlines() or [""])[0]
        raise CrioError(f"the bundle's install --list failed: {first}", ExitCode.INSTALL)
    return [line for line in listed.stdout.splitlines() if line.strip()]
