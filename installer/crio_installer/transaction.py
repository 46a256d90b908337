"""Transactional install around the bundle's own install script, journal-compatible with scripts/get.

Layout below $DESTDIR/var/lib/crio-install/transaction/: `journal` lines
`saved<TAB>N<TAB>PATH` (backup in backup/N), `absent<TAB>0<TAB>PATH`,
`newdir<TAB>0<TAB>DIR`; `statedirs` (state directories this run created),
`ready`, `committed`. Either installer can roll back the other's interrupted
run: the journal is replayed backwards, and removed by renaming first so an
interrupted removal is never replayed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_TOP, INSTALL_RECORD, INSTALL_STATE_DIR
from crio.errors import CrioError, ExitCode

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
    """cp -a for one file or symlink."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst)
        st = src.stat()
        try:
            os.chown(dst, st.st_uid, st.st_gid)
        except PermissionError:
            pass


def _state_entries(sdir: Path) -> list[str]:
    """Entries below the state dir, deepest last, the transaction's own directories left out."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(sdir):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == sdir and d.startswith("transaction"))]
        out.extend(os.path.join(dirpath, n) for n in dirnames + filenames
                   if not (Path(dirpath) == sdir and n.startswith("transaction")))
    return out


def _sweep_state(txn: Path) -> None:
    """Remove what appeared in the state dir during the transaction (the install script's temporary files)."""
    listing = txn / "statefiles"
    if not listing.is_file():
        return
    keep = set(listing.read_text().splitlines())
    for entry in sorted(_state_entries(txn.parent), key=lambda p: p.count("/"), reverse=True):
        if entry not in keep:
            _remove(Path(entry))


def discard(txn: Path, destdir: str) -> None:
    statedirs: list[str] = []
    if (txn / "statedirs").is_file():
        statedirs = [line for line in (txn / "statedirs").read_text().splitlines() if line]
    done = txn.with_name(f"transaction.done.{os.getpid()}")
    txn.rename(done)
    shutil.rmtree(done, ignore_errors=True)
    if statedirs and not (state_dir(destdir) / INSTALL_RECORD).exists():
        for path in reversed(statedirs):
            try:
                os.rmdir(path)
            except OSError:
                pass


def rollback(txn: Path, destdir: str) -> None:
    """Replay a journal backwards: restore saved files, remove new files and directories."""
    journal = txn / "journal"
    if journal.is_file():
        for line in reversed(journal.read_text().splitlines()):
            kind, index, path_text = line.split("\t", 2)
            path = Path(path_text)
            if kind == "saved":
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif _exists(path):
                    path.unlink()
                path.parent.mkdir(parents=True, exist_ok=True)
                _copy(txn / "backup" / index, path)
            elif kind == "absent":
                _remove(path)
            elif kind == "newdir":
                try:
                    path.rmdir()
                except OSError:
                    pass
    _sweep_state(txn)
    discard(txn, destdir)


def recover(destdir: str, log: Log) -> None:
    """Finish what an interrupted run (of either installer) left behind."""
    sdir = state_dir(destdir)
    for leftover in sdir.glob("transaction.done.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    txn = sdir / "transaction"
    if not txn.is_dir():
        return
    if (txn / "committed").exists():
        discard(txn, destdir)
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
                _copy(path, txn / "backup" / str(index))
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


def commit(txn: Path, destdir: str) -> None:
    (txn / "committed").touch()
    discard(txn, destdir)


def install_bundle(staging: Path, destdir: str, log: Log, verified_sha256: str | None = None,
                   record_meta: dict[str, str] | None = None) -> None:
    """Run `cri-o/install` in a transaction: on failure the previous installation is restored.

    `verified_sha256`: the tarball's sha256, when it was verified and every file was checked against
    manifest.json while extracting; an install script that offers --verified-tarball then skips
    hashing every file again (older ones are run as they are). `record_meta`: metadata for the
    record (revision, channel, build time), passed to a script that offers --record-meta.
    """
    bundle = staging / BUNDLE_TOP
    extra = _offered_options(bundle, verified_sha256, record_meta or {}, log)
    listed = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", "--list"], cwd=bundle,
                            capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        first = (listed.stderr.strip().splitlines() or [""])[0]
        raise CrioError(f"the bundle's install --list failed: {first}", ExitCode.INSTALL)
    sdir = state_dir(destdir)
    raw = [line for line in listed.stdout.splitlines() if line.strip()]
    paths = list(dict.fromkeys([*raw, str(sdir / INSTALL_RECORD), str(sdir / BUNDLE_INSTALL_SCRIPT)]))
    recover(destdir, log)
    txn = begin(paths, destdir)
    log(f"installing {len(raw)} files")
    try:
        result = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", *extra], cwd=bundle, check=False)
    except BaseException:
        rollback(txn, destdir)
        raise
    if result.returncode != 0:
        log(f"the bundle's install script failed (exit {result.returncode}): restoring the previous installation")
        rollback(txn, destdir)
        if result.returncode == ExitCode.VERIFICATION:
            # The script's own verification failure: the bundle is bad, not the host.
            raise CrioError("the bundle failed its own verification; the previous installation is restored",
                            ExitCode.VERIFICATION)
        raise CrioError(f"install failed (exit {result.returncode}); the previous installation is restored",
                        ExitCode.INSTALL)
    commit(txn, destdir)


def _offered_options(bundle: Path, verified_sha256: str | None, record_meta: dict[str, str], log: Log) -> list[str]:
    """The options of the bundle's install script asked for that its --help says it offers."""
    if verified_sha256 is None and not record_meta:
        return []
    offered = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", "--help"], cwd=bundle,
                             capture_output=True, text=True, check=False)
    text = offered.stdout if offered.returncode == 0 else ""
    extra: list[str] = []
    if verified_sha256 is not None and "--verified-tarball SHA256" in text:
        extra += ["--verified-tarball", verified_sha256]
    if record_meta and "--record-meta KEY=VALUE" not in text:
        log("WARNING: the bundle's install script cannot record its revision: a later downgrade from it is not "
            "detected")
    elif record_meta:
        extra += [arg for key, value in record_meta.items() for arg in ("--record-meta", f"{key}={value}")]
    return extra


def uninstall(destdir: str, log: Log) -> None:
    """Remove what the last install recorded, with the install script it kept."""
    sdir = state_dir(destdir)
    recover(destdir, log)
    script = sdir / BUNDLE_INSTALL_SCRIPT
    if not script.is_file():
        raise CrioError(f"no installation recorded: {script} not found", ExitCode.INSTALL)
    if subprocess.run(["bash", str(script), "--uninstall"], check=False).returncode != 0:
        raise CrioError("uninstall failed", ExitCode.INSTALL)
    log("uninstalled")
