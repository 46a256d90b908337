"""One transaction per root at a time: flock(2) on `$DESTDIR$STATEDIR/lock`, as scripts/get takes it.

Held over recovery, install and uninstall, so no run ever mistakes another's
live journal for an interrupted one. The kernel drops a flock when its last
descriptor closes, so a holder killed with `kill -9` never blocks the next run.
The file is opened without following links (a planted symlink is refused) and
created 0600 if absent. When the root ends up with nothing installed (no record),
the holder removes the lock file, and the directories it created for it, before
letting go; a waiter that then wins the lock on the unlinked file sees that it is
no longer at the path and takes the lock again.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from crio.errors import CrioError, ExitCode

LOCK_NAME = "lock"
LOCK_TIMEOUT_VARIABLE = "CRIO_GET_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60


def lock_timeout_from_env(environ: dict[str, str] | None = None) -> int:
    """Seconds to wait for the lock (0: do not wait); a malformed value is a usage error."""
    text = (os.environ if environ is None else environ).get(LOCK_TIMEOUT_VARIABLE, "")
    if text == "":
        return DEFAULT_LOCK_TIMEOUT
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise CrioError(f"{LOCK_TIMEOUT_VARIABLE} must be a whole number of seconds (0-999999), got {text!r}",
                        ExitCode.USAGE)
    return int(text)


class RootLock:
    """`with RootLock(state_dir, record, timeout, log) as lock:` — lock.fd stays open in child processes given it."""

    def __init__(self, sdir: Path, record: Path, timeout: int, log: Callable[[str], None]) -> None:
        self.path = sdir / LOCK_NAME
        self.sdir = sdir
        self.record = record
        self.timeout = timeout
        self.log = log
        self.fd = -1
        self.created: list[Path] = []
        self.also_remove: list[Path] = []     # recorded dirs the lock file kept an uninstall from removing

    def __enter__(self) -> RootLock:
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            self._make_state_dir()
            fd = self._open()
            if fd < 0:          # a holder removed the state dir as it let go: make it again
                if time.monotonic() >= deadline:
                    raise CrioError(f"cannot create the lock {self.path}", ExitCode.INSTALL)
                continue
            try:
                waited = self._wait(fd, deadline, waited)
                if self._still_at_path(fd):
                    self.fd = fd
                    return self
            except BaseException:
                os.close(fd)
                self._remove_created()
                raise
            os.close(fd)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """Let go; with nothing installed, first remove the lock file and the directories made for it."""
        if self.fd < 0:
            return
        try:
            if not (self.record.is_file() and not self.record.is_symlink()) and self._still_at_path(self.fd):
                self.path.unlink()
                self._remove_created()
                for directory in [self.sdir, *self.also_remove]:
                    try:
                        directory.rmdir()
                    except OSError:
                        pass
        finally:
            os.close(self.fd)
            self.fd = -1

    def _make_state_dir(self) -> None:
        missing: list[Path] = []
        probe = self.sdir
        while not (probe.exists() or probe.is_symlink()) and probe != probe.parent:
            missing.insert(0, probe)
            probe = probe.parent
        for directory in missing:
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                self._remove_created()
                raise CrioError(f"cannot create the state directory {directory}: {exc.strerror}",
                                ExitCode.INSTALL) from None
            self.created.append(directory)

    def _remove_created(self) -> None:
        for directory in reversed(self.created):
            try:
                directory.rmdir()
            except OSError:
                break
        self.created = []

    def _open(self) -> int:
        """The lock file, opened without following a link and created 0600 if absent; -1 if its dir is gone."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            return -1
        except OSError as exc:
            self._remove_created()
            why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise CrioError(f"cannot open the lock {self.path}: {why}", ExitCode.INSTALL) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self._remove_created()
            raise CrioError(f"the lock {self.path} is not a regular file", ExitCode.INSTALL)
        return fd

    def _wait(self, fd: int, deadline: float, waited: bool) -> bool:
        """Take the flock on `fd`, polling until the deadline; True once a wait was announced."""
        return wait_for_flock(fd, fcntl.LOCK_EX, self.path, self.timeout, deadline, self.log, waited)

    def _still_at_path(self, fd: int) -> bool:
        return still_at(self.path, fd)


def still_at(path: Path, fd: int) -> bool:
    """`fd` is still the file at `path` (a holder that found nothing installed may have removed it)."""
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def wait_for_flock(fd: int, operation: int, path: Path, timeout: int, deadline: float,
                   log: Callable[[str], None], waited: bool = False) -> bool:
    """flock(fd, operation) polled until `deadline` (exit 18 after it); True once a wait was announced.

    Shared by the install lock (LOCK_EX) and --verify's reader lock (LOCK_SH).
    """
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return waited
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise CrioError(f"another install or uninstall holds the lock {path}; gave up after {timeout} s "
                            f"(set {LOCK_TIMEOUT_VARIABLE} to wait longer)", ExitCode.LOCKED)
        if not waited:
            log(f"waiting up to {timeout} s for another install or uninstall to finish (lock {path})")
            waited = True
        time.sleep(0.05)
