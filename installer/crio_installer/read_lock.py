"""A shared flock on the root's lock for readers (`--verify`): installs and uninstalls wait, readers do not.

Installs and uninstalls take `$DESTDIR$STATEDIR/lock` exclusively (crio_installer.lock);
a reader takes it shared, so no install is half way while it reads, and two
readers never wait for each other. A reader never writes: it opens the lock
read-only without following a link and never creates it. No lock file means no
install of these installers holds the root (they create it first, and keep it
while anything is installed), so the reader goes on without one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from crio.errors import CrioError, ExitCode
from crio_installer.lock import LOCK_NAME, still_at, wait_for_flock


def _open(path: Path) -> int:
    """The lock opened read-only (-1 when there is none); a link or non-file is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return -1
    except PermissionError:
        raise CrioError(f"cannot read the lock {path}: permission denied (run as root)", ExitCode.NOT_ROOT) from None
    except OSError as exc:
        why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise CrioError(f"cannot open the lock {path}: {why}", ExitCode.INSTALL) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CrioError(f"the lock {path} is not a regular file", ExitCode.INSTALL)
    return fd


def _wait_shared(fd: int, path: Path, timeout: int, log: Callable[[str], None]) -> None:
    wait_for_flock(fd, fcntl.LOCK_SH, path, timeout, time.monotonic() + timeout, log)


@contextmanager
def shared_root_lock(sdir: Path, timeout: int, log: Callable[[str], None]) -> Iterator[bool]:
    """Hold the root's lock shared while the block reads; yields whether there was a lock file to hold."""
    path = sdir / LOCK_NAME
    while True:
        fd = _open(path)
        if fd < 0:
            yield False
            return
        try:
            _wait_shared(fd, path, timeout, log)
        except BaseException:
            os.close(fd)
            raise
        if still_at(path, fd):
            break
        os.close(fd)   # the holder removed it as it let go (nothing installed any more): look again
    try:
        yield True
    finally:
        os.close(fd)
