"""Write a heap dump to a file whole or not at all, and never over a file that is already there unless asked.

Why not `open(path, "wb")` as upstream does: the path may already hold someone's file
(or a planted symlink), and an interrupted download would leave half a dump behind.
So the bytes go to a temp file created exclusively (mode 0600: a heap dump holds the
daemon's memory, credentials included) in the target's directory, are flushed to
disk, and only then take the final name: by `link` when the name must be new (the
kernel refuses an existing name, so there is no check-then-write race), or by
`rename` with `--force`, which replaces a symlink itself, never the file it points to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from crio.errors import CrioError, ExitCode

STDOUT = "-"


def default_heap_name(now: datetime) -> str:
    """Upstream's default name, `crio-heap-<RFC 3339 time without colons>.out`, Go's `Z` for UTC.

    `now` must carry its zone (upstream uses local time: pass `datetime.now().astimezone()`).
    """
    if now.utcoffset() is None:
        raise ValueError("default_heap_name needs an aware datetime")
    stamp = now.isoformat(timespec="seconds")
    if now.utcoffset() == timedelta(0):
        stamp = stamp.removesuffix("+00:00") + "Z"
    return f"crio-heap-{stamp.replace(':', '')}.out"


def _fail(path: Path, why: str) -> CrioError:
    return CrioError(f"cannot write {path}: {why}", ExitCode.OUTPUT_FILE)


def refuse_existing(path: Path, force: bool) -> None:
    """Fail before contacting CRI-O when the name is taken and --force was not given."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(found.st_mode):
        raise _fail(path, "it is a directory")
    if not force:
        raise _fail(path, "it already exists (use --force to replace it)")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_new_file(path: Path, chunks: Iterable[bytes], force: bool = False) -> int:
    """Write `chunks` to `path` atomically; refuse an existing `path` unless `force`. Returns the byte count.

    Errors from the chunks' source (a CrioError from the socket) pass through
    unchanged; in every failure the temp file is removed and `path` is untouched.
    """
    refuse_existing(path, force)
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise _fail(path, f"cannot create a file in {directory}: {exc.strerror}") from None
    tmp = Path(tmp_name)
    try:
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:  # the socket's own errors arrive as CrioError, so this is the disk
            raise _fail(path, exc.strerror or str(exc)) from None
        try:
            if force:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
        except FileExistsError:
            raise _fail(path, "it already exists (use --force to replace it)") from None
        except OSError as exc:
            why = "it is a directory" if exc.errno == errno.EISDIR else exc.strerror or str(exc)
            raise _fail(path, why) from None
        _fsync_dir(directory)
        return size
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_heap(chunks: Iterable[bytes], file: str | None, force: bool, stdout: BinaryIO, now: datetime) -> Path | None:
    """`heap [--file FILE]` as upstream: `-` streams to `stdout`; no FILE means the default name here.

    Returns the path written, or None for standard output.
    """
    if file == STDOUT:
        for chunk in chunks:
            stdout.write(chunk)
        stdout.flush()
        return None
    path = Path(file) if file else Path(default_heap_name(now))
    write_new_file(path, chunks, force)
    return path
