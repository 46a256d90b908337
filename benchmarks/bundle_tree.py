"""The staged trees the bundle benchmarks build: one per architecture, like a real two-arch release.

Each tree imitates a bundle: a few large and many medium files under bin/ and
cni-plugins/, filled with slices of the real ELF binaries of this machine (so
it compresses like binaries do), plus small configs in etc/, which — as in a
real release — both architectures share through an `all` source. The second
architecture's binaries are other slices of the pool: its bytes differ, as an
arm64 build's do. A slice that happens to start with an ELF header gets the
tree's e_machine, so the build-time ELF check passes for both.

Staging runs in a child process (`python bundle_tree.py TOP SIZE_MB SHIFT ARCH`)
so the benchmark stays small: Linux charges a parent's peak RSS to a forked
child's figure.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REV = "0123456789abcdef0123456789abcdef01234567"
EPOCH = 1700000000
POOL_DIRS = ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/libexec")
POOL_SIZE = 64 << 20


def binary_pool(limit: int) -> bytes:
    """Up to `limit` bytes of real ELF files (deterministic order); synthetic code-like data when too few."""
    parts: list[bytes] = []
    total = 0
    for directory in POOL_DIRS:
        base = Path(directory)
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                with open(path, "rb") as handle:
                    if handle.read(4) != b"\x7fELF":
                        continue
                    handle.seek(0)
                    data = handle.read()
            except OSError:
                continue
            parts.append(data)
            total += len(data)
            if total >= limit:
                return b"".join(parts)[:limit]
    rnd = random.Random(7)
    vocab = [rnd.randbytes(rnd.randint(2, 12)) for _ in range(4096)]
    while total < limit:
        chunk = b"".join(rnd.choices(vocab, k=4096))
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)[:limit]


def _set_machine(head: bytes, machine: int) -> bytes:
    """An ELF header's e_machine (bytes 18-19, little-endian here) set to `machine`."""
    if not head.startswith(b"\x7fELF") or len(head) < 20:
        return head
    return head[:18] + machine.to_bytes(2, "little") + head[20:]


def stage_tree(top: Path, size_mb: int, shift: int, arch: str) -> int:
    """Write one architecture's `cri-o/` tree from the pool starting at `shift`; returns its size in bytes."""
    sys.path[:0] = [str(ROOT)]
    from crio.arch import ELF_MACHINES

    pool = binary_pool(POOL_SIZE)
    scale = size_mb / 200
    sizes = [int(s * scale) for s in [60 << 20, 40 << 20, 30 << 20, 20 << 20, 15 << 20, 10 << 20]]
    sizes += [int((1 << 20) * scale)] * 24
    offset = shift % len(pool)
    total = 0
    for index, size in enumerate(sizes):
        directory = top / ("bin" if index < 6 else "cni-plugins")
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f"file{index:02d}", "wb") as handle:
            left = size
            first = True
            while left:
                n = min(left, len(pool) - offset)
                chunk = pool[offset:offset + n]
                handle.write(_set_machine(chunk, ELF_MACHINES[arch]) if first else chunk)
                first = False
                offset = (offset + n) % len(pool)
                left -= n
        total += size
    return total


def stage_shared(top: Path) -> None:
    """The architecture-independent files: configs and the bundle's own install/Makefile/README."""
    (top / "etc").mkdir(parents=True, exist_ok=True)
    for name in ("10-crio.conf", "crictl.yaml"):
        (top / "etc" / name).write_text(f"# {name}\n" * 20)
    (top / "install").write_text("#!/usr/bin/env bash\necho install\n")
    (top / "Makefile").write_text("all:\n\t./install\n")
    (top / "README.md").write_text("# cri-o\n")


def stage(work: Path, archs: list[str], size_mb: int) -> dict[str, Path]:
    """Stage `work/<arch>/cri-o` per architecture (in children); returns each arch's tree.

    Every tree holds the shared files too, so the pigz reference archives exactly
    what one bundle holds (but its manifest.json); the spec takes them from the first.
    """
    trees: dict[str, Path] = {}
    for index, arch in enumerate(archs):
        top = work / arch / "cri-o"
        shift = index * (POOL_SIZE // 2 + 4099)   # another place in the pool: other bytes
        subprocess.run([sys.executable, __file__, str(top), str(size_mb), str(shift), arch], check=True,
                       capture_output=True)
        stage_shared(top)
        trees[arch] = top
    return trees


def write_spec(path: Path, trees: dict[str, Path]) -> None:
    """A spec whose bin/ and cni-plugins/ come from each arch's tree and etc/ (all archs) from the first."""
    shared = next(iter(trees.values()))

    def rel(target: Path) -> str:
        return str(target.relative_to(path.parent))

    blocks = []
    for name in ("bin", "cni-plugins"):
        sources = "".join(f'[component.source.{arch}]\npath = "{rel(top / name)}"\n' for arch, top in trees.items())
        blocks.append(f'[[component]]\nname = "{name}"\nversion = "1"\nlicense = "Apache-2.0"\ndest = "{name}"\n'
                      f'mode = "0755"\n{sources}')
    blocks.append(f'[[component]]\nname = "etc"\nversion = "1"\nlicense = "Apache-2.0"\ndest = "etc"\n'
                  f'mode = "0644"\n[component.source.all]\npath = "{rel(shared / "etc")}"\n')
    path.write_text("schema = 1\n\n" + "\n".join(blocks))


def builder_command(spec: Path, archs: list[str], out_dir: Path, shared: Path,
                    codec: str | None = None) -> list[str]:
    """`crio-release bundle`'s library call as a child command; `codec` swaps the compressor (block_codecs.py)."""
    swap = ""
    if codec:
        swap = (f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nimport block_codecs\n"
                f"import crio_release.build.tarball as t\nt.CODEC = block_codecs.parse_codec({codec!r})\n")
    code = (
        "import sys\nfrom pathlib import Path\nfrom crio.revision import parse_revision\n"
        f"{swap}from crio_release.build.bundle import build_bundles\n"
        f"build_bundles(Path({str(spec)!r}), {archs!r}, parse_revision({REV!r}), Path({str(out_dir)!r}), "
        f"source_date_epoch={EPOCH}, bundle_files=Path({str(shared)!r}))\n"
    )
    return [sys.executable, "-c", code]


def pigz_command(tree: Path, out: Path) -> list[str]:
    """The reference: GNU tar piped into pigz -n -6 (2 threads here), reproducible flags."""
    return ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-I", "pigz -n -6",
            "-cf", str(out), "-C", str(tree.parent), tree.name]


if __name__ == "__main__":
    print(stage_tree(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
