"""Checking and extracting a bundle while its bytes arrive, before they are verified.

The bytes are hostile until the tarball's sha256 (and signature) matched, and
they are unpacked while they arrive. So tarfile only parses here; it never
writes. Every member is checked before anything of it is written: regular
files and directories inside `cri-o/` only; no links of any kind (symlink or
hard link), no absolute names, `..`, devices, FIFOs, setuid/setgid bits,
duplicates, or more than the size limit. The same rules as scripts/get's
listing check, so both installers refuse the same archives.

Writing is ours too (`_StagingWriter`): every path component is opened or
created relative to the private staging directory's file descriptor, with
O_NOFOLLOW (and O_DIRECTORY for directories, O_CREAT|O_EXCL for files). As no
link is ever created and nothing follows one, no name can lead outside
staging, on any Python, whatever tarfile's extraction filters would do
(CVE-2025-4517: symlink chains that overflow PATH_MAX).

Each regular file is hashed as it is written, and when the bundle carries a
manifest.json (the builder's last entry) every file it lists must have been
extracted with that sha256: the check the in-bundle install script would
otherwise repeat by reading every file again, done here while the bytes pass.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import tarfile
import threading
from pathlib import Path

from isal import igzip

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_MANIFEST, BUNDLE_TOP
from crio.bundle_manifest import BundleManifest, BundleManifestError
from crio.download import env_integer
from crio.errors import CrioError, ExitCode

SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9._+@%=,:~/-]+$")
MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 8 * 1024**3
#: CRIO_GET_MAX_BYTES has at most 18 digits (scripts/get's bash arithmetic is 64-bit).
MAX_MAX_BYTES = 10**18 - 1
#: manifest.json is kept in memory while it is written; a bigger one is refused.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_COPY_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeArchive(CrioError):
    exit_code = ExitCode.VERIFICATION


def _normalize(path: str) -> str | None:
    """Resolve `.` and `..` without touching the filesystem; None when it climbs above the root."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _inside_top(path: str) -> bool:
    return path == BUNDLE_TOP or path.startswith(BUNDLE_TOP + "/")


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    return "device, FIFO or special file"


class MemberChecker:
    """Stateful check of a member sequence (duplicates and total size need the history)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.seen: set[str] = set()
        self.total = 0
        self.count = 0

    def check(self, member: tarfile.TarInfo) -> str | None:
        """The member's normalised name below the archive root, or None for the root itself; raise if unsafe."""
        name = member.name
        self.count += 1
        if self.count > MAX_ENTRIES:
            raise UnsafeArchive(f"unsafe tarball: more than {MAX_ENTRIES} entries")
        if not (member.isreg() or member.isdir()) or member.issparse():
            # Links too: a bundle carries regular files and directories only, so nothing
            # written later can be sent through a link made earlier.
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: {_kind(member)} (bundles hold regular files "
                                "and directories only)")
        if not SAFE_NAME_RE.match(name):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: unexpected characters in the name")
        if name.startswith("/"):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: absolute path")
        if ".." in name.split("/"):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: '..' component")
        resolved = _normalize(name)
        if resolved == "" and member.isdir():
            return None
        if resolved is None or not _inside_top(resolved):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: outside the top directory {BUNDLE_TOP}/")
        if resolved in self.seen:
            raise UnsafeArchive(f"unsafe tarball: duplicate entry {name!r}")
        self.seen.add(resolved)
        if member.mode & 0o6000:
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: setuid or setgid bit")
        if member.isreg():
            self.total += member.size
            if self.total > self.max_bytes:
                raise UnsafeArchive(
                    f"unsafe tarball: it expands to more than {self.max_bytes} bytes "
                    "(set CRIO_GET_MAX_BYTES to allow more)"
                )
        return resolved


class _QueueReader:
    """A read()-able file over chunks put on a bounded queue by the downloader (None ends it)."""

    def __init__(self, chunks: queue.Queue[bytes | None]) -> None:
        self.chunks = chunks
        self.buffer = memoryview(b"")
        self.done = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [bytes(self.buffer)]
            while not self.done:
                chunk = self.chunks.get()
                if chunk is None:
                    self.done = True
                else:
                    parts.append(chunk)
            self.buffer = memoryview(b"")
            return b"".join(parts)
        self._refill()
        out = bytes(self.buffer[:size])
        self.buffer = self.buffer[size:]
        return out

    def readinto(self, target: bytearray | memoryview) -> int:
        """The decompressor's way of reading: one copy, from the queued chunk straight into its buffer."""
        self._refill()
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size

    def _refill(self) -> None:
        """The next non-empty chunk into `buffer` when it is used up (unless the stream ended)."""
        while not self.buffer and not self.done:
            chunk = self.chunks.get()
            if chunk is None:
                self.done = True
            else:
                self.buffer = memoryview(chunk)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while not self.done:
            if self.chunks.get() is None:
                self.done = True


class _FileSink:
    """Writes and hashes each file's blocks in a thread of its own, beside the decompressor.

    The decompressing thread is the one the whole stream waits for, so it only inflates and parses:
    the copy into the page cache (write) and the sha256 happen here (both release the GIL on large
    buffers). Files arrive one after another: `start` hands over a new file's descriptor, `data` its
    blocks (immutable bytes), `end` gives it its mode and closes it. The first error is kept and
    raised by the next call (and by `close`); the files after it are closed unwritten. `hashes` is
    complete once `close` returned.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, object, int] | None] = queue.Queue(maxsize=8)   # 8 MiB in flight
        self.results: dict[str, str] = {}
        self.error: OSError | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        name, digest, fd = "", hashlib.sha256(), -1
        while (item := self.queue.get()) is not None:
            kind, payload, number = item
            if kind == "start":
                name, digest, fd = str(payload), hashlib.sha256(), number
            elif kind == "data":
                if self.error is None:
                    self._write(fd, payload)  # type: ignore[arg-type]
                    digest.update(payload)  # type: ignore[arg-type]
            else:
                self._finish(fd, number)
                self.results[name] = digest.hexdigest()
                fd = -1
        if fd != -1:        # stopped in the middle of a file (an error upstream)
            os.close(fd)

    def _write(self, fd: int, block: bytes) -> None:
        try:
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            self.error = exc

    def _finish(self, fd: int, mode: int) -> None:
        try:
            if self.error is None:
                os.fchmod(fd, mode)
        except OSError as exc:
            self.error = exc
        finally:
            os.close(fd)

    def _put(self, item: tuple[str, object, int]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def start(self, name: str, fd: int) -> None:
        """Own `fd` from now on (closed by this thread whatever happens)."""
        try:
            self._put(("start", name, fd))
        except BaseException:
            os.close(fd)
            raise

    def data(self, block: bytes) -> None:
        self._put(("data", block, 0))

    def end(self, mode: int) -> None:
        self._put(("end", None, mode))

    def close(self) -> dict[str, str]:
        """Wait for every queued block; raise the first write error."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.results


class _ForwardReader:
    """The decompressed stream as the file tarfile's seekable mode reads: forward seeks only, no copies.

    tarfile's stream mode ("r|") copies every byte through its own buffer twice or three times; its
    seekable mode only ever seeks forward over a stream read in order (headers, then the data we
    read, then padding), which this gives it by reading and dropping the bytes in between. A
    backward seek is refused.
    """

    def __init__(self, raw: igzip.IGzipFile) -> None:
        self.raw = raw
        self.pos = 0

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or offset < self.pos:
            raise tarfile.ReadError(f"the archive asks to seek back to byte {offset} of a stream at {self.pos}")
        while self.pos < offset:
            if not self.read(min(offset - self.pos, _COPY_CHUNK)):
                break       # past the end: the next read finds nothing, as tarfile expects
        return self.pos


class _StagingWriter:
    """Creates directories and regular files below one directory, each component relative to its parent's fd.

    Nothing is ever reached through a link: directories are opened with O_NOFOLLOW|O_DIRECTORY,
    files created with O_CREAT|O_EXCL|O_NOFOLLOW, so a name that exists as anything else fails.
    The last directory's fd is kept open: a bundle's files come sorted, directory by directory.
    """

    def __init__(self, root: Path) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.sink = _FileSink()
        self.hashes: dict[str, str] = {}     # complete after close()
        self.manifest: bytes | None = None
        self._cached: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        """Wait for the sink (raising its write error) and close every descriptor."""
        try:
            self.hashes = self.sink.close()
        finally:
            self._close_fds()

    def abandon(self) -> None:
        """After an error: stop the sink and close every descriptor, raising nothing (no-op after close)."""
        if self.root_fd == -1:
            return
        try:
            self.sink.close()
        except OSError:
            pass
        self._close_fds()

    def _close_fds(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None
        os.close(self.root_fd)
        self.root_fd = -1

    def directory(self, parts: tuple[str, ...]) -> int:
        """An fd of directory `parts` below the root (borrowed: do not close), missing components created."""
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        current = self.root_fd
        try:
            for part in parts:
                try:
                    os.mkdir(part, 0o755, dir_fd=current)
                except FileExistsError:
                    pass
                opened = os.open(part, _DIR_FLAGS, dir_fd=current)
                if current != self.root_fd:
                    os.close(current)
                current = opened
        except BaseException:
            if current != self.root_fd:
                os.close(current)
            raise
        if self._cached is not None:
            os.close(self._cached[1])
        self._cached = (parts, current) if current != self.root_fd else None
        return current

    def file(self, name: str, member: tarfile.TarInfo, source: _ForwardReader, keep: bool) -> None:
        """Hand `member`'s data from `source` (positioned at it) to the sink thread, `keep` its bytes."""
        parts = tuple(name.split("/"))
        parent = self.directory(parts[:-1])
        mode = (member.mode & 0o755) | 0o600
        if not mode & 0o100:
            mode &= ~0o111
        kept: list[bytes] | None = [] if keep and member.size <= MAX_MANIFEST_BYTES else None
        self.sink.start(name, os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent))
        left = member.size
        while left:
            block = source.read(min(left, _COPY_CHUNK))
            if not block:
                raise tarfile.ReadError("unexpected end of data")
            self.sink.data(block)
            if kept is not None:
                kept.append(block)
            left -= len(block)
        self.sink.end(mode)
        if kept is not None:
            self.manifest = b"".join(kept)


def check_manifest(manifest: bytes, hashes: dict[str, str]) -> None:
    """Every file manifest.json lists was extracted with the sha256 it lists (the install script's check)."""
    try:
        listed = BundleManifest.from_json(manifest).sha256_by_path()
    except BundleManifestError as exc:
        raise UnsafeArchive(exc.message) from None
    for relative, expected in listed.items():
        got = hashes.get(f"{BUNDLE_TOP}/{relative}")
        if got is None:
            raise UnsafeArchive(f"{relative} is listed in {BUNDLE_MANIFEST} but missing from the bundle "
                                "(or not a regular file)")
        if got != expected:
            raise UnsafeArchive(f"{relative} does not match {BUNDLE_MANIFEST} (sha256 {got}, expected {expected})")


def extract_stream(source: _QueueReader | object, staging: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bool:
    """Decompress (isal) and parse `source`, writing each checked member below `staging` ourselves.

    Returns whether the bundle's manifest.json was there and every file it lists matched.
    """
    checker = MemberChecker(max_bytes)
    manifest_name = f"{BUNDLE_TOP}/{BUNDLE_MANIFEST}"
    writer = _StagingWriter(staging)
    member: tarfile.TarInfo | None = None
    try:
        with igzip.IGzipFile(fileobj=source, mode="rb") as gz:
            stream = _ForwardReader(gz)
            with tarfile.open(fileobj=stream, mode="r:") as tf:   # type: ignore[call-overload]
                for member in tf:
                    name = checker.check(member)
                    if name is None:
                        continue
                    if member.isdir():
                        writer.directory(tuple(name.split("/")))
                    else:
                        stream.seek(member.offset_data)
                        writer.file(name, member, stream, keep=name == manifest_name)
        writer.close()      # every block written: a write error is the extraction's
    except UnsafeArchive:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        where = f" at entry {member.name!r}" if member is not None else ""
        raise UnsafeArchive(f"the tarball cannot be extracted{where}: {exc}") from None
    finally:
        writer.abandon()
    if checker.count == 0:
        raise UnsafeArchive("the tarball is empty")
    if f"{BUNDLE_TOP}/{BUNDLE_INSTALL_SCRIPT}" not in writer.hashes:
        raise UnsafeArchive(f"the bundle has no {BUNDLE_TOP}/{BUNDLE_INSTALL_SCRIPT}")
    if manifest_name not in writer.hashes:
        return False
    if writer.manifest is None:
        raise UnsafeArchive(f"{BUNDLE_MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    check_manifest(writer.manifest, writer.hashes)
    return True


class StreamingExtractor:
    """Runs extract_stream in a thread fed chunk by chunk, so download, hashing and decompression overlap."""

    def __init__(self, staging: Path, max_bytes: int = DEFAULT_MAX_BYTES, depth: int = 16) -> None:
        staging.mkdir(mode=0o700)
        self.staging = staging
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.reader = _QueueReader(self.chunks)
        self.error: BaseException | None = None
        self.manifest_checked = False
        self.thread = threading.Thread(target=self._run, args=(max_bytes,), daemon=True)
        self.thread.start()

    def _run(self, max_bytes: int) -> None:
        try:
            self.manifest_checked = extract_stream(self.reader, self.staging, max_bytes)
        except CrioError as exc:
            self.error = exc
        except BaseException as exc:
            self.error = UnsafeArchive(f"the tarball cannot be extracted: {type(exc).__name__}: {exc}")
        finally:
            # Keep consuming so the producer never blocks on a full queue after a failure.
            self.reader.drain()

    def feed(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.chunks.put(chunk)

    def finish(self) -> None:
        """Signal the end of the stream and wait; re-raise what the extractor found."""
        self.chunks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop the extractor whatever state it is in (chunks still queued are dropped)."""
        while True:
            try:
                self.chunks.put_nowait(None)
                break
            except queue.Full:
                try:
                    self.chunks.get_nowait()
                except queue.Empty:
                    pass
        self.thread.join(timeout=10)


def max_bytes_from_env() -> int:
    """CRIO_GET_MAX_BYTES: 1 to 10**18 - 1 (18 digits), a usage error otherwise (as in scripts/get)."""
    return env_integer("CRIO_GET_MAX_BYTES", str(DEFAULT_MAX_BYTES), MAX_MAX_BYTES, "bytes")
