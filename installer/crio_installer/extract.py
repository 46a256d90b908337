"""Checking and extracting a bundle while its bytes arrive.

Every member is checked before it is written, and only into a private
staging directory: regular files, directories and links inside `cri-o/`
only; no absolute names, `..`, devices, FIFOs, setuid/setgid bits,
duplicates, links leading out, or more than the size limit. The same rules
as scripts/get's listing check, so both installers refuse the same archives.

Each regular file is hashed as it is written, and when the bundle carries a
manifest.json (the builder's last entry) every file it lists must have been
extracted with that sha256: the check the in-bundle install script would
otherwise repeat by reading every file again, done here while the bytes pass.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import queue
import re
import tarfile
import threading
from pathlib import Path

from isal import igzip

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_MANIFEST, BUNDLE_TOP
from crio.bundle_manifest import BundleManifest, BundleManifestError
from crio.errors import CrioError, ExitCode

SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9._+@%=,:~/-]+$")
MAX_ENTRIES = 100_000
DEFAULT_MAX_BYTES = 8 * 1024**3


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


class MemberChecker:
    """Stateful check of a member sequence (duplicates and total size need the history)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.seen: set[str] = set()
        self.total = 0
        self.count = 0

    def check(self, member: tarfile.TarInfo) -> None:
        name = member.name
        self.count += 1
        if self.count > MAX_ENTRIES:
            raise UnsafeArchive(f"unsafe tarball: more than {MAX_ENTRIES} entries")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()) or member.issparse():
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: device, FIFO or special file")
        if not SAFE_NAME_RE.match(name):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: unexpected characters in the name")
        if name.startswith("/"):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: absolute path")
        if ".." in name.split("/"):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: '..' component")
        resolved = _normalize(name)
        if resolved == "" and member.isdir():
            return
        if resolved is None or not _inside_top(resolved):
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: outside the top directory {BUNDLE_TOP}/")
        if resolved in self.seen:
            raise UnsafeArchive(f"unsafe tarball: duplicate entry {name!r}")
        self.seen.add(resolved)
        if member.mode & 0o6000:
            raise UnsafeArchive(f"unsafe tarball entry {name!r}: setuid or setgid bit")
        if member.issym() or member.islnk():
            target = member.linkname
            if not SAFE_NAME_RE.match(target):
                raise UnsafeArchive(f"unsafe link {name!r}: unexpected characters in the target")
            if target.startswith("/"):
                raise UnsafeArchive(f"unsafe link {name!r} -> {target!r}: absolute target")
            joined = posixpath.join(posixpath.dirname(name), target) if member.issym() else target
            resolved_target = _normalize(joined)
            if resolved_target is None or not _inside_top(resolved_target):
                raise UnsafeArchive(f"unsafe link {name!r} -> {target!r}: points outside {BUNDLE_TOP}/")
        if member.isreg():
            self.total += member.size
            if self.total > self.max_bytes:
                raise UnsafeArchive(
                    f"unsafe tarball: it expands to more than {self.max_bytes} bytes "
                    "(set CRIO_GET_MAX_BYTES to allow more)"
                )


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
        while not self.buffer and not self.done:
            chunk = self.chunks.get()
            if chunk is None:
                self.done = True
            else:
                self.buffer = memoryview(chunk)
        out = bytes(self.buffer[:size])
        self.buffer = self.buffer[size:]
        return out

    def readinto(self, target: bytearray | memoryview) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while not self.done:
            if self.chunks.get() is None:
                self.done = True


class _HashingTarFile(tarfile.TarFile):
    """A TarFile that hashes each regular file while writing it (sparse members are refused before)."""

    hashes: dict[str, str]

    def makefile(self, tarinfo: tarfile.TarInfo, targetpath: str) -> None:
        source = self.fileobj
        assert source is not None
        source.seek(tarinfo.offset_data)
        digest = hashlib.sha256()
        left = tarinfo.size
        with open(targetpath, "wb") as target:
            while left:
                block = source.read(min(left, self.copybufsize or 1 << 20))
                if not block:
                    raise tarfile.ReadError("unexpected end of data")
                digest.update(block)
                target.write(block)
                left -= len(block)
        self.hashes[tarinfo.name] = digest.hexdigest()


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
    """Decompress (isal) and untar `source` into `staging`, checking each member before writing it.

    Returns whether the bundle's manifest.json was there and every file it lists matched.
    """
    checker = MemberChecker(max_bytes)
    manifest_name = f"{BUNDLE_TOP}/{BUNDLE_MANIFEST}"
    try:
        # 1 MiB reads: tarfile's default 10 KiB record reads make decompression call-bound.
        with igzip.IGzipFile(fileobj=source, mode="rb") as gz, \
                _HashingTarFile.open(fileobj=gz, mode="r|", bufsize=1 << 20) as tf:
            assert isinstance(tf, _HashingTarFile)
            tf.copybufsize = 1 << 20
            tf.hashes = {}
            for member in tf:
                checker.check(member)
                tf.extract(member, staging, filter="data")
    except UnsafeArchive:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise UnsafeArchive(f"the tarball cannot be extracted: {exc}") from None
    if checker.count == 0:
        raise UnsafeArchive("the tarball is empty")
    if not (staging / BUNDLE_TOP / BUNDLE_INSTALL_SCRIPT).is_file():
        raise UnsafeArchive(f"the bundle has no {BUNDLE_TOP}/{BUNDLE_INSTALL_SCRIPT}")
    if manifest_name not in tf.hashes:
        return False
    check_manifest((staging / manifest_name).read_bytes(), tf.hashes)
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
    text = os.environ.get("CRIO_GET_MAX_BYTES", str(DEFAULT_MAX_BYTES))
    if not text.isdigit() or int(text) < 1:
        raise CrioError(f"CRIO_GET_MAX_BYTES must be a positive number of bytes, got {text!r}", ExitCode.USAGE)
    return int(text)
