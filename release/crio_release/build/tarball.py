"""A streaming, reproducible tar.gz writer that hashes every file while it compresses it.

Why our own writer: the bundle must be byte-identical on every machine, hashed
(sha256 for the manifest, sha1 + sha256 for the SBOM) without reading the data
twice, faster than `tar | pigz`, and never hold a whole file in memory.

* tar: GNU format, entries in the order given (the caller sorts), uid/gid 0,
  empty user/group names, directories 0755, file modes from the spec, one
  mtime for everything.
* gzip: the tar stream is cut into fixed BLOCK_SIZE blocks; each becomes one
  gzip member (header without name, mtime 0, OS 255) compressed by libdeflate
  at LEVEL, in parallel threads (libdeflate runs without the GIL). A file of
  several members is standard gzip (RFC 1952 section 2.2): gzip, pigz, GNU
  tar, Python's gzip/isal readers and Go read it whole; a reader that stops
  after the first member (Python's tarfile stream mode `r|gz`) does not.
* The bytes depend only on the input, BLOCK_SIZE, LEVEL and the libdeflate
  inside the pinned `deflate` wheel (pyproject.toml): not on the system zlib,
  the Python version (the wheel is abi3: one binary for every CPython >= 3.11),
  the number of threads (every block is compressed on its own) or the CPU
  (libdeflate's CPU-specific code computes checksums and fills tables; its
  choices are plain C; no arm64 host has run it here). libdeflate's output is deterministic for a given libdeflate version
  (its maintainer's statement); a new version may compress differently, which
  is why the pin is exact and tests/bundle/test_golden.py holds a digest.
* Chosen by benchmarks/bench_compressors.py (README, "Benchmarks"): building
  both architectures, libdeflate level 5 in 1 MiB blocks spends about 0.57x
  the CPU time of one architecture's `tar | pigz -n -6`, at 0.998x its size on
  this machine's ELF files and 1.005x on Go binaries. Level 6 is smaller (0.99x)
  but costs 0.69x, which left too little margin for the wall-time bar (<= 1.0)
  on a loaded 2-core machine; level 4 is over the 1.02x size bar on Go
  binaries; zlib-ng is over the bar at level 6 and slower than pigz at 7, isal
  1.10x the size, the system zlib slower than pigz.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import deflate

from crio.errors import CrioError, ExitCode

#: Compression parameters; changing either (or the deflate pin) changes every bundle's bytes.
LEVEL = 5
BLOCK_SIZE = 1 << 20
READ_CHUNK = 1 << 20
#: Blocks each writer may have in flight per pool thread: bounds memory (6 was no faster, both arches, load 8).
IN_FLIGHT_PER_WORKER = 2
DIR_MODE = 0o755


class Sink(Protocol):
    """Where compressed bytes go: a binary file, or anything with its `write`."""

    def write(self, data: bytes, /) -> object: ...


class BlockCodec(Protocol):
    """Turns the tar stream, cut in blocks, into gzip bytes; benchmarks/block_codecs.py has the ones measured."""

    block_size: int
    dictionary_size: int   # bytes of the previous block handed to `block` (0: none)
    stream_crc: bool       # whether `finish` needs the crc32 of everything written

    def start(self) -> bytes: ...
    def block(self, data: bytes, dictionary: bytes) -> bytes | bytearray: ...   # in a pool thread
    def finish(self, crc: int, size: int) -> bytes: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class LibdeflateMembers:
    """One gzip member per block, compressed by the libdeflate inside the `deflate` wheel."""

    level: int = LEVEL
    block_size: int = BLOCK_SIZE
    dictionary_size: int = 0
    stream_crc: bool = False

    def start(self) -> bytes:
        return b""

    def block(self, data: bytes, dictionary: bytes) -> bytearray:
        # libdeflate's header is ours: no name, mtime 0, XFL 0 at levels 2-7, OS 255.
        return deflate.gzip_compress(data, self.level)

    def finish(self, crc: int, size: int) -> bytes:
        return b""

    def describe(self) -> str:
        return (f"libdeflate (Python package deflate {deflate.__version__}) level {self.level}, "
                f"one gzip member per {self.block_size // 1024} KiB block")


CODEC: BlockCodec = LibdeflateMembers()


def compressor_description() -> str:
    """Names what produced the bytes, for the SBOM and docs: same description, same bytes."""
    return CODEC.describe()


class BlockPool:
    """Compression threads, shared by every writer of a build so that architectures never oversubscribe."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="gzip")

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BlockPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class ParallelGzipWriter:
    """File-like sink: gzip-compresses what is written, in parallel blocks, into `out`.

    `pool` is shared and left running; without one the writer makes its own of
    `workers` threads. `codec` defaults to CODEC, read when the writer starts.
    """

    def __init__(self, out: Sink, workers: int | None = None, *, pool: BlockPool | None = None,
                 codec: BlockCodec | None = None) -> None:
        self._out = out
        self._codec = codec or CODEC
        self._own_pool = pool is None
        self._pool = pool or BlockPool(workers)
        self._pending: deque[Future[bytes | bytearray]] = deque()
        self._buffer = bytearray()
        self._dictionary = b""
        self._crc = 0
        self._size = 0
        self._blocks = 0
        self._closed = False
        out.write(self._codec.start())

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._codec.stream_crc:
            self._crc = deflate.crc32(data, self._crc)
        self._size += len(data)
        self._buffer += data
        size = self._codec.block_size
        while len(self._buffer) >= size:
            with memoryview(self._buffer) as view:
                block = bytes(view[:size])   # one copy; the bytearray then drops its head in O(1)
            del self._buffer[:size]
            self._submit(block)

    def _submit(self, block: bytes) -> None:
        self._pending.append(self._pool.executor.submit(self._codec.block, block, self._dictionary))
        self._blocks += 1
        if self._codec.dictionary_size:
            self._dictionary = block[-self._codec.dictionary_size:]
        while len(self._pending) > IN_FLIGHT_PER_WORKER * self._pool.workers:
            self._out.write(self._pending.popleft().result())

    def close(self) -> None:
        """Flush the last block (an empty one when nothing was written: still valid gzip) and the trailer."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buffer or not self._blocks:
                self._submit(bytes(self._buffer))
            self._buffer.clear()
            while self._pending:
                self._out.write(self._pending.popleft().result())
            self._out.write(self._codec.finish(self._crc, self._size & 0xFFFFFFFF))
        finally:
            self._release()

    def abort(self) -> None:
        self._closed = True
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._release()

    def _release(self) -> None:
        if self._own_pool:
            self._pool.shutdown()


@dataclass(frozen=True)
class FileRecord:
    """One regular file as written: its name in the tar and what the manifest and SBOM need."""

    name: str
    size: int
    mode: int
    sha256: str
    sha1: str


class TarballWriter:
    """Write tar entries with normalised metadata into a ParallelGzipWriter, hashing file data on the way."""

    def __init__(self, out: Sink, mtime: int, workers: int | None = None, *, pool: BlockPool | None = None,
                 codec: BlockCodec | None = None) -> None:
        self._gz = ParallelGzipWriter(out, workers, pool=pool, codec=codec)
        self._mtime = int(mtime)
        self._dirs: set[str] = set()
        self._offset = 0
        self.records: list[FileRecord] = []

    def _info(self, name: str, mode: int, kind: bytes, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.mtime = self._mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _emit(self, data: bytes) -> None:
        self._gz.write(data)
        self._offset += len(data)

    def _ensure_parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            directory = "/".join(parts[:i])
            if directory not in self._dirs:
                self._dirs.add(directory)
                self._emit(self._info(directory, DIR_MODE, tarfile.DIRTYPE).tobuf(tarfile.GNU_FORMAT, "utf-8"))

    def add_file(self, name: str, mode: int, source: Path, *, what: str = "") -> FileRecord:
        """Stream `source` into the tar as `name`, hashing it in the same pass."""
        self._ensure_parents(name)
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise CrioError(f"{what or name}: cannot read {source}: {exc.strerror}", ExitCode.BUILD) from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self._emit(self._info(name, mode, tarfile.REGTYPE, size).tobuf(tarfile.GNU_FORMAT, "utf-8"))
            sha256, sha1 = hashlib.sha256(), hashlib.sha1()  # noqa: S324 - SPDX requires SHA1 per file
            left = size
            while left:
                chunk = handle.read(min(READ_CHUNK, left))
                if not chunk:
                    raise CrioError(f"{what or name}: {source} shrank while it was being read", ExitCode.BUILD)
                sha256.update(chunk)
                sha1.update(chunk)
                self._emit(chunk)
                left -= len(chunk)
        self._pad(size)
        record = FileRecord(name, size, mode, sha256.hexdigest(), sha1.hexdigest())
        self.records.append(record)
        return record

    def add_bytes(self, name: str, mode: int, data: bytes) -> FileRecord:
        """A small generated file (the in-bundle manifest)."""
        self._ensure_parents(name)
        self._emit(self._info(name, mode, tarfile.REGTYPE, len(data)).tobuf(tarfile.GNU_FORMAT, "utf-8"))
        self._emit(data)
        self._pad(len(data))
        record = FileRecord(
            name, len(data), mode, hashlib.sha256(data).hexdigest(),
            hashlib.sha1(data).hexdigest(),  # noqa: S324
        )
        self.records.append(record)
        return record

    def _pad(self, size: int) -> None:
        remainder = size % tarfile.BLOCKSIZE
        if remainder:
            self._emit(b"\0" * (tarfile.BLOCKSIZE - remainder))

    def close(self) -> None:
        """Two zero blocks, pad to a full 10 KiB record like GNU tar, then the last block."""
        self._emit(b"\0" * (2 * tarfile.BLOCKSIZE))
        remainder = self._offset % tarfile.RECORDSIZE
        if remainder:
            self._emit(b"\0" * (tarfile.RECORDSIZE - remainder))
        self._gz.close()

    def abort(self) -> None:
        self._gz.abort()


def sort_key(name: str) -> tuple[str, ...]:
    """Order of entries: by path components, so a directory's files follow it directly."""
    return tuple(name.split("/"))

