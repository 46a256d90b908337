"""The same tarball bytes on every machine: a golden digest for a fixed synthetic tree.

The tree is generated here from SHAKE-256 (stable across Python versions, unlike
`random`), about 4 MB in files of every shape: a multi-block binary-like file,
text, a small config, an empty file. Its tar stream has its own digest, so a
failure says whether the tar layer or the compressor changed. The compressed
digest is what a runner with another system zlib, Python, CPU or thread count
must reproduce: if it differs, the bundles would differ too. A deliberate change
of LEVEL, BLOCK_SIZE or the `deflate` pin changes it; update both the constant
and the README's reproducibility paragraph then.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from crio_release.build.tarball import BLOCK_SIZE, BlockPool
from helpers.golden_tree import make_tree, write

TAR_SHA256 = "b168f2c7bd5a9e7229bbd0a629a88c58fb93f69d6d72ed6e682cda813ead28c5"
TARBALL_SHA256 = "6c6ee159b915c7d3cc370b4bb990cfdc2f6c83eb17eb49c4df0f1e37f50b1faa"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, Path]]:
    return make_tree(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("workers", [1, 4])
def test_golden_digest_with_1_and_4_threads(tree, workers: int) -> None:
    data = write(tree, workers=workers)
    assert hashlib.sha256(gzip.decompress(data)).hexdigest() == TAR_SHA256, "the tar layer changed"
    assert hashlib.sha256(data).hexdigest() == TARBALL_SHA256, "the compressor's bytes changed"


def test_writers_sharing_one_pool_keep_the_golden_bytes(tree) -> None:
    """Both architectures compress through one pool at once: interleaving must not change either."""
    results: list[bytes] = []
    with BlockPool(2) as pool:
        threads = [threading.Thread(target=lambda: results.append(write(tree, pool=pool))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [hashlib.sha256(r).hexdigest() for r in results] == [TARBALL_SHA256] * 2


def test_golden_without_the_system_zlib(tree, tmp_path: Path) -> None:
    """In a process where `import zlib` fails, the writer still makes the golden bytes: zlib plays no part."""
    code = (
        "import sys; sys.modules['zlib'] = None\n"
        "import hashlib, json\nfrom pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "from helpers.golden_tree import write\n"
        "entries = [(n, m, Path(p)) for n, m, p in json.loads(sys.argv[1])]\n"
        "print(hashlib.sha256(write(entries, workers=3)).hexdigest())\n"
    )
    import json

    listed = json.dumps([(n, m, str(p)) for n, m, p in tree])
    out = subprocess.run([sys.executable, "-c", code, listed], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == TARBALL_SHA256


def _members(data: bytes) -> list[tuple[bytes, int]]:
    """(header, uncompressed size) of every gzip member, found with zlib's own member-at-a-time reader."""
    found = []
    while data:
        reader = zlib.decompressobj(31)
        size = len(reader.decompress(data)) + len(reader.flush())
        assert reader.eof
        found.append((data[:10], size))
        data = reader.unused_data
    return found


def test_one_member_per_block_with_a_reproducible_header(tree) -> None:
    data = write(tree, workers=2)
    members = _members(data)
    total = len(gzip.decompress(data))
    assert len(members) == -(-total // BLOCK_SIZE) >= 4
    assert all(size == BLOCK_SIZE for _, size in members[:-1]) and 0 < members[-1][1] <= BLOCK_SIZE
    # magic, deflate, no name/comment/extra, mtime 0, XFL 0, OS 255 (unknown): nothing from the machine.
    assert {header for header, _ in members} == {b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"}
