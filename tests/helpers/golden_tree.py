"""The golden tree of tests/bundle/test_golden.py, importable where `zlib` is not (no gzip, no zlib here).

Generated from SHAKE-256, which, unlike `random`, is the same on every Python.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from crio_release.build.tarball import BLOCK_SIZE, BlockPool, TarballWriter

MTIME = 1700000000
WORDS = [w.encode() for w in (
    "crio runtime container image pod sandbox conmon crun runc cni plugin bridge loopback portmap "
    "config storage overlay cgroup systemd seccomp apparmor selinux namespace mount network log").split()]


def _noise(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def _text(seed: str, size: int) -> bytes:
    picks = _noise(seed, size // 4)
    out = b" ".join(WORDS[b % len(WORDS)] + (b"\n" if b % 11 == 0 else b"") for b in picks)
    return (out * (size // max(len(out), 1) + 1))[:size]


def _binary_like(seed: str, size: int) -> bytes:
    """Alternating pages of noise and text: compresses about as well as a binary and crosses blocks."""
    pages = []
    for index in range(size // 4096 + 1):
        pages.append(_noise(f"{seed}{index}", 4096) if index % 3 == 0 else _text(f"{seed}{index}", 4096))
    return b"".join(pages)[:size]


def make_tree(root: Path) -> list[tuple[str, int, Path]]:
    """The fixed synthetic tree: (name in the tar, mode, file)."""
    files = {
        "cri-o/bin/crio": (0o755, _binary_like("crio", 5 * BLOCK_SIZE // 2 + 123)),   # 3 blocks
        "cri-o/bin/pinns": (0o755, _binary_like("pinns", 700_000)),
        "cri-o/contrib/crio.service": (0o644, _text("service", 900)),
        "cri-o/etc/crio.conf": (0o644, _text("conf", 40_000)),
        "cri-o/etc/empty": (0o644, b""),
        "cri-o/man/crio.8": (0o644, _text("man", 300_000)),
    }
    entries = []
    for name, (mode, data) in sorted(files.items()):
        path = root / name.replace("/", "_")
        path.write_bytes(data)
        entries.append((name, mode, path))
    return entries


def write(entries: list[tuple[str, int, Path]], *, workers: int | None = None, pool: BlockPool | None = None) -> bytes:
    out = io.BytesIO()
    writer = TarballWriter(out, mtime=MTIME, workers=workers, pool=pool)
    for name, mode, path in entries:
        writer.add_file(name, mode, path)
    writer.add_bytes("cri-o/manifest.json", 0o644, b'{"golden": true}\n')
    writer.close()
    return out.getvalue()
