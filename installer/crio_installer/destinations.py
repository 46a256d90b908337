"""Every destination of the plan checked before anything is written (scripts/get: check_destinations).

The bundle's `install --list` output is the plan: the paths the install will
create or replace. Refused, with exit 7 and nothing changed:

- a destination that exists as a directory, FIFO, socket or device: a file
  goes there (a FIFO would block the backup, a device would be written to);
- a parent that exists as anything but a directory (or a link to one);
- with DESTDIR set, a parent below DESTDIR that is a symlink leading outside
  DESTDIR (DESTDIR/etc -> /etc): DESTDIR is the root of the install, and a
  link must not carry it onto the host. A link that stays inside DESTDIR
  (DESTDIR/bin -> usr/bin) is followed, as it is in a chroot.

A symlink AT a destination is fine: the install renames over it (the link is
replaced, never written through) and the journal keeps the link itself.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable

from crio.errors import CrioError, ExitCode

_SPECIAL = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse(message: str) -> CrioError:
    return CrioError(f"{message}; nothing was changed", ExitCode.INSTALL)


def _collapse(path: str) -> str:
    """DESTDIR as the install script spells it in `--list`: repeated and trailing slashes dropped."""
    return re.sub("/+", "/", path).rstrip("/")


def check_destinations(paths: Iterable[str], destdir: str) -> None:
    """Raise (exit 7) for the first destination, or parent of one, the install must not write to."""
    top = _collapse(destdir)
    root = os.path.realpath(top) if top and os.path.isdir(top) else None
    checked: set[str] = set()
    for listed in paths:
        path = _collapse(listed)   # DESTDIR spelled //x/ by the caller is still DESTDIR
        _check_parents(path, top, root, checked)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for test, what in _SPECIAL:
            if test(st.st_mode):
                raise _refuse(f"{path} is {what}, where the bundle installs a file: move it away")


def _check_parents(path: str, top: str, root: str | None, checked: set[str]) -> None:
    """Each existing parent is a directory, or a link; below DESTDIR, a link that stays inside it."""
    parent = os.path.dirname(path)
    chain: list[str] = []
    while parent not in checked and parent not in ("/", "", top):
        chain.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(chain):   # top down: the first bad component is the one named
        checked.add(directory)
        try:
            st = os.lstat(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISLNK(st.st_mode):
            if root is None or not directory.startswith(top + "/"):
                continue
            target = os.path.realpath(directory)
            if not (target == root or target.startswith(root.rstrip("/") + "/")):
                raise _refuse(f"{directory} is a symlink leading outside DESTDIR (to {target}): DESTDIR is "
                              "installed into as a root of its own; make it a directory")
            if not os.path.isdir(directory):
                raise _refuse(f"{directory} is a symlink to something that is not a directory")
        elif not stat.S_ISDIR(st.st_mode):
            raise _refuse(f"{directory} exists and is not a directory, but the bundle installs below it")
