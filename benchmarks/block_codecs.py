"""The block codecs benchmarks/bench_compressors.py measures against the one the builder ships.

`stream:MODULE:LEVEL:KIB` is pigz's scheme, the builder's before libdeflate: one gzip member,
fixed blocks each primed with the previous 32 KiB as dictionary and ended by a sync flush, then
an empty final block, for any module with zlib's `compressobj` (zlib = the system's, zlib_ng,
isal_zlib).
`libdeflate:LEVEL:KIB` is the shipped scheme (one gzip member per block) at other settings.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from crio_release.build.tarball import LibdeflateMembers

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"   # no name, mtime 0, OS 255
MODULES = {"zlib": "zlib", "zlib-ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib"}


@dataclass(frozen=True)
class ZlibStream:
    """One gzip member of sync-flushed, dictionary-primed blocks (pigz's format) through `module`."""

    module_name: str
    level: int
    block_size: int
    dictionary_size: int = 32 * 1024
    stream_crc: bool = True

    @property
    def module(self) -> Any:
        return importlib.import_module(MODULES[self.module_name])

    def start(self) -> bytes:
        return GZIP_HEADER

    def block(self, data: bytes, dictionary: bytes) -> bytes:
        z = self.module
        comp = (z.compressobj(self.level, z.DEFLATED, -15, 8, z.Z_DEFAULT_STRATEGY, dictionary) if dictionary
                else z.compressobj(self.level, z.DEFLATED, -15))
        return comp.compress(data) + comp.flush(z.Z_SYNC_FLUSH)

    def finish(self, crc: int, size: int) -> bytes:
        # An empty fixed-Huffman block with BFINAL set (10 bits, byte-aligned after a sync flush), as pigz ends.
        return b"\x03\x00" + crc.to_bytes(4, "little") + size.to_bytes(4, "little")

    def describe(self) -> str:
        return f"{self.module_name} {self.level} {self.block_size // 1024}K"


def parse_codec(text: str) -> Any:
    """`libdeflate:6:1024` or `stream:zlib-ng:6:1024` (level, block KiB) to a codec."""
    parts = text.split(":")
    if parts[0] == "libdeflate" and len(parts) == 3:
        return LibdeflateMembers(level=int(parts[1]), block_size=int(parts[2]) * 1024)
    if parts[0] == "stream" and len(parts) == 4 and parts[1] in MODULES:
        return ZlibStream(parts[1], int(parts[2]), int(parts[3]) * 1024)
    raise SystemExit(f"unknown codec {text!r}; accepted: libdeflate:LEVEL:KIB or stream:{'|'.join(MODULES)}:LEVEL:KIB")


def available(text: str) -> bool:
    """Whether the module behind a codec is installed (zlib-ng is a benchmark-only extra)."""
    parts = text.split(":")
    if parts[0] != "stream":
        return True
    try:
        importlib.import_module(MODULES[parts[1]])
    except ImportError:
        return False
    return True
