"""Reading a file found on the node (under DESTDIR or a home): it may have been planted.

One way to open it, used by every reader of journals, records, lists and installed files:
never through a symlink (O_NOFOLLOW), never blocking on a FIFO or device (O_NONBLOCK), and
only if what was opened is a regular file (checked on the descriptor, so nothing can be
swapped in between).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotRegularFile(OSError):
    """What was opened is a FIFO, device, socket or directory."""


@contextmanager
def open_regular(path: Path | str) -> Iterator[BinaryIO]:
    """The file at `path` for reading. Raises FileNotFoundError when absent, OSError (ELOOP: a symlink,
    EACCES, ...) when it cannot be opened safely, NotRegularFile when it is not a regular file."""
    fd = os.open(path, _READ_FLAGS)
    handle = os.fdopen(fd, "rb")
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        yield handle
