"""Installing an upstream-layout bundle (an install script without our capabilities) in a transaction.

Our install script declares what it offers on a fixed line among its first
lines (`# crio-install-capabilities: list ...`), read here and never run to
find out. Upstream's declares nothing and ignores its arguments (`install
--list` installs), so it is run only into a private scratch root: a fresh
0700 directory as DESTDIR and another as HOME (its `~/.crio-install` lands
there). What it wrote is the plan: every regular file below the scratch root,
at the same path below the real DESTDIR; a link, device, FIFO or socket is
refused. The scratch path that upstream's script writes into `10-crio.conf`
(it seds `$DESTDIR$BINDIR` and friends into it) is mended to the real DESTDIR
(empty on a live node) in every text file holding it. Then the files go in
with the transaction our bundles use (crio_installer.transaction: begin over
the planned paths, backups, journal; rollback on any failure), each by rename
from the scratch root, and the record is written in our format with
`#layout<TAB>upstream` and the revision metadata, so `-u` (record_uninstall)
and the downgrade rules hold. Files of the previous record this bundle no
longer installs are removed when unchanged, and an upstream installation
listed in `~/.crio-install` is adopted (crio_installer.adoption).
scripts/get: the `upstream_*` functions.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    BUNDLE_TOP,
    CAPABILITY_LIST,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    LAYOUT_KEY,
    LAYOUT_UPSTREAM,
)
from crio.errors import CrioError, ExitCode
from crio.paths import is_below
from crio.record import Kind, Record, RecordRow, parse_record, path_error
from crio_installer import adoption, transaction
from crio_installer.destinations import check_destinations
from crio_installer.journal import destination_error
from crio_installer.record_uninstall import file_sha256
from crio_installer.script_options import capabilities

Log = Callable[[str], None]


def plans_with_list(bundle: Path) -> bool:
    """Whether the bundle's install script is ours: it declares `list` (plan with --list, run in place)."""
    return CAPABILITY_LIST in capabilities(bundle / BUNDLE_INSTALL_SCRIPT)


@dataclass(frozen=True)
class Planned:
    """One file the scratch run wrote: its path below the root (no DESTDIR) and where it is now."""

    path: str
    source: Path
    row: RecordRow


def _config_dirs() -> list[str]:
    """The install script's config directories (kind `config`: kept by -u when changed), as the env sets them."""
    env = os.environ
    etc = env.get("ETCDIR") or "/etc"
    prefix = env.get("PREFIX") or "/usr/local"
    return [etc, env.get("CONTAINERS_DIR") or f"{etc}/containers", env.get("CNIDIR") or f"{etc}/cni/net.d",
            env.get("SYSCONFIGDIR") or f"{etc}/sysconfig", env.get("OCIDIR") or f"{prefix}/share/oci-umount/oci-umount.d"]


def run_in_scratch(bundle: Path, work: Path, log: Log) -> Path:
    """Run the bundle's install script with a fresh private DESTDIR and HOME; the scratch root it wrote into."""
    scratch = Path(tempfile.mkdtemp(prefix="upstream.", dir=work))   # mode 0700
    root, home = scratch / "root", scratch / "home"
    root.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    log("the bundle's install script declares no capabilities (upstream layout): running it into a scratch root")
    env = dict(os.environ, DESTDIR=str(root), HOME=str(home))
    result = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}"], cwd=bundle, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        last = ([line for line in result.stdout.decode(errors="replace").splitlines() if line.strip()] or [""])[-1]
        raise CrioError(f"the bundle's install script failed in the scratch root (exit {result.returncode}: "
                        f"{last.strip()}); nothing was changed", ExitCode.INSTALL)
    return root


def collect(root: Path, destdir: str, log: Log) -> list[Planned]:
    """Every regular file below `root` with its record row (the scratch prefix mended first); refuses the rest."""
    state = os.environ.get("STATEDIR") or INSTALL_STATE_DIR
    configs = _config_dirs()
    planned: list[Planned] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            source = Path(dirpath) / name
            mode = os.lstat(source).st_mode
            rel = "/" + source.relative_to(root).as_posix()
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise CrioError(f"the bundle's install script made {rel} something other than a regular file "
                                "(a link, device, FIFO or socket): not installed; nothing was changed",
                                ExitCode.INSTALL)
            if path_error(rel) is not None:
                raise CrioError(f"the bundle's install script wrote {rel!r}, which cannot be recorded "
                                f"({path_error(rel)}); nothing was changed", ExitCode.INSTALL)
            if rel == state or is_below(rel, state):
                log(f"skipping {rel}: the install state directory is the installer's own")
                continue
            _mend(source, root, destdir)
            kind = Kind.CONFIG if any(is_below(rel, d) for d in configs) else Kind.FILE
            sha = file_sha256(source)
            assert sha is not None
            planned.append(Planned(rel, source, RecordRow(rel, sha, f"0{stat.S_IMODE(mode) & 0o777:03o}", kind)))
    return sorted(planned, key=lambda p: p.path)   # the order scripts/get's `find | sort` gives


def _mend(path: Path, root: Path, destdir: str) -> None:
    """Put the real DESTDIR where the script wrote the scratch root (upstream seds `$DESTDIR$BINDIR` into configs)."""
    data = path.read_bytes()
    needles = sorted({str(root).encode(), os.path.realpath(root).encode()}, key=len, reverse=True)
    if not any(needle in data for needle in needles):
        return
    if b"\0" in data:
        raise CrioError(f"{path.relative_to(root)} holds the scratch path but is not text: it cannot be mended; "
                        "nothing was changed", ExitCode.INSTALL)
    for needle in needles:
        data = data.replace(needle, destdir.encode())
    with open(path, "r+b") as handle:
        handle.write(data)
        handle.truncate()


def _missing_dirs(paths: list[str], destdir: str) -> list[str]:
    """Parents of `paths` (below DESTDIR) that do not exist yet: the record's dir rows for them."""
    out: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", "", destdir) and (not destdir or is_below(parent, destdir)) \
                and not os.path.lexists(parent):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out)


def place(source: Path, target: Path) -> None:
    """Put one file at `target` by rename; across file systems through a temporary file beside it."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
            os.fchmod(out.fileno(), stat.S_IMODE(os.lstat(source).st_mode))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write_record(sdir: Path, record: Record) -> None:
    """The record written beside (exclusive create, no link followed) and renamed over the old one."""
    staged = sdir / f".record.upstream.{os.getpid()}"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(record.format().encode("utf-8", "surrogateescape"))
    os.chmod(staged, 0o644)
    os.replace(staged, sdir / INSTALL_RECORD)


def _previous(sdir: Path) -> Record:
    path = sdir / INSTALL_RECORD
    if not path.is_file():
        return Record()
    return parse_record(path.read_bytes().decode("utf-8", "surrogateescape"), str(path))


def install(staging: Path, destdir: str, log: Log, record_meta: dict[str, str],
            held: transaction.RootLock | None = None) -> None:
    """Run the upstream-layout bundle into scratch, then install what it wrote in one transaction (see module doc).

    `held`: the root's lock, when the caller took it with `transaction.private_staging` (recovery done).
    """
    root = run_in_scratch(staging / BUNDLE_TOP, staging.parent, log)
    planned = collect(root, destdir, log)
    sdir = transaction.state_dir(destdir)
    targets = [destdir + p.path for p in planned]
    for target in targets:
        why = destination_error(target, destdir)
        if why is not None:
            raise CrioError(f"the bundle's install script wrote {target!r}, which is not a destination of this "
                            f"install ({why}); nothing was changed", ExitCode.INSTALL)
    # The state dirs this install makes (recorded, so -u removes them): made by the lock when it is held.
    state_dirs = [str(d) for d in held.created] if held is not None else \
        _missing_dirs([str(sdir / INSTALL_RECORD)], destdir)
    with transaction._lock(destdir, log) if held is None else contextlib.nullcontext(held):
        if held is None:
            transaction.recover(destdir, log)
            transaction.check_record(sdir)
        previous = _previous(sdir)
        adopted = adoption.find(destdir, sdir, log)
        wanted = {p.path for p in planned}
        stale = [r for r in previous.rows if r.kind is not Kind.DIR and r.path not in wanted]
        extra = [destdir + r.path for r in stale] + adopted.paths
        for path in extra:
            why = destination_error(path, destdir)
            if why is not None:
                raise CrioError(f"{path} (previous installation) is not a destination of this install ({why}); "
                                "nothing was changed", ExitCode.INSTALL)
        paths = list(dict.fromkeys([*targets, *extra, str(sdir / INSTALL_RECORD), str(sdir / BUNDLE_INSTALL_SCRIPT)]))
        check_destinations(paths, destdir)
        new_dirs = _missing_dirs(targets, destdir)
        txn = transaction.begin(paths, destdir)
        log(f"installing {len(planned)} files")
        try:
            adoption.remove(adopted)
            _remove_stale(stale, destdir, log)
            (sdir / BUNDLE_INSTALL_SCRIPT).unlink(missing_ok=True)   # an earlier bundle's script: no longer ours
            for item, target in zip(planned, targets, strict=True):
                place(item.source, Path(target))
            _write_record(sdir, _new_record(previous, planned, new_dirs + state_dirs, destdir, record_meta))
        except BaseException as exc:
            log("installing the upstream-layout bundle failed: restoring the previous installation")
            transaction.rollback(txn, destdir)
            if isinstance(exc, (CrioError, OSError)):
                raise CrioError(f"install failed ({exc}); the previous installation is restored",
                                ExitCode.INSTALL) from None
            raise
        transaction.commit(txn, destdir)
    adoption.retire(adopted, log)
    _relabel(targets, destdir)
    log(f"installed {len(planned)} files; record: {sdir / INSTALL_RECORD}")


def _relabel(targets: list[str], destdir: str) -> None:
    """On the live system, SELinux labels as for files created in place (the scratch root's label moved with them)."""
    restorecon = shutil.which("restorecon")
    if not destdir and restorecon and targets:
        subprocess.run([restorecon, "-F", "--", *targets], capture_output=True, check=False)


def _remove_stale(stale: list[RecordRow], destdir: str, log: Log) -> None:
    """Files of the previous record this bundle does not install: removed when unchanged, else left and named."""
    for row in stale:
        target = Path(destdir + row.path)
        if not os.path.lexists(target):
            continue
        if file_sha256(target) == row.sha256:
            target.unlink()
            log(f"removed {target} (not in this bundle)")
        else:
            log(f"left {target}: changed since it was installed, and not in this bundle")


def _new_record(previous: Record, planned: list[Planned], made: list[str], destdir: str,
                meta: dict[str, str]) -> Record:
    """Our record of this install: metadata, the dir rows (kept ones and those made now), one row per file."""
    dirs = {r.path for r in previous.rows if r.kind is Kind.DIR and os.path.isdir(destdir + r.path)}
    dirs |= {d[len(destdir):] for d in made if os.path.isdir(d)}
    rows = [RecordRow(d, "-", "0755", Kind.DIR) for d in sorted(dirs) if path_error(d) is None]
    return Record(rows + [p.row for p in planned], {**meta, LAYOUT_KEY: LAYOUT_UPSTREAM})
