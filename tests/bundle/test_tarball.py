"""The tar.gz writer alone: multi-block files, bytes independent of the thread count, hashes from the same pass."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import zlib
from pathlib import Path

from crio_release.build.tarball import BLOCK_SIZE, TarballWriter


def _inputs(tmp_path: Path) -> list[tuple[str, int, Path]]:
    rnd = random.Random(3)
    big = tmp_path / "big"
    # 2.5 blocks of half-random, half-repetitive data: crosses block boundaries and uses the dictionary.
    pages = (5 * BLOCK_SIZE // 2) // 4096
    big.write_bytes(b"".join(rnd.randbytes(4096) if i % 2 else b"crio" * 1024 for i in range(pages)))
    small = tmp_path / "small"
    small.write_bytes(b"x" * 700)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    return [("cri-o/bin/big", 0o755, big), ("cri-o/etc/empty", 0o644, empty), ("cri-o/etc/small", 0o600, small)]


def _write(entries: list[tuple[str, int, Path]], workers: int) -> tuple[bytes, TarballWriter]:
    out = io.BytesIO()
    writer = TarballWriter(out, mtime=1234567890, workers=workers)
    for name, mode, path in entries:
        writer.add_file(name, mode, path)
    writer.add_bytes("cri-o/manifest.json", 0o644, b"{}\n")
    writer.close()
    return out.getvalue(), writer


def test_same_bytes_with_any_number_of_threads(tmp_path: Path) -> None:
    entries = _inputs(tmp_path)
    one, _ = _write(entries, workers=1)
    four, _ = _write(entries, workers=4)
    assert one == four


def test_round_trip_metadata_and_hashes(tmp_path: Path) -> None:
    entries = _inputs(tmp_path)
    data, writer = _write(entries, workers=2)
    raw = gzip.decompress(data)
    assert len(raw) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["cri-o", "cri-o/bin", "cri-o/bin/big", "cri-o/etc", "cri-o/etc/empty",
                                             "cri-o/etc/small", "cri-o/manifest.json"]
        for member in members:
            assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (0, 0, "", "", 1234567890)
        modes = {m.name: m.mode for m in members}
        assert modes == {"cri-o": 0o755, "cri-o/bin": 0o755, "cri-o/bin/big": 0o755, "cri-o/etc": 0o755,
                         "cri-o/etc/empty": 0o644, "cri-o/etc/small": 0o600, "cri-o/manifest.json": 0o644}
        by_name = {r.name: r for r in writer.records}
        for name, _, path in entries:
            content = tar.extractfile(name).read()
            assert content == path.read_bytes()
            assert by_name[name].sha256 == hashlib.sha256(content).hexdigest()
            assert by_name[name].sha1 == hashlib.sha1(content).hexdigest()
            assert by_name[name].size == len(content)


def test_shrinking_file_is_an_error(tmp_path: Path, monkeypatch) -> None:
    import os

    import pytest

    from crio.errors import CrioError, ExitCode

    path = tmp_path / "f"
    path.write_bytes(b"abc")
    real_fstat = os.fstat

    class _Stat:
        def __init__(self, st: os.stat_result) -> None:
            self.st_size = st.st_size + 10

    monkeypatch.setattr("crio_release.build.tarball.os.fstat", lambda fd: _Stat(real_fstat(fd)))
    writer = TarballWriter(io.BytesIO(), mtime=0, workers=1)
    with pytest.raises(CrioError, match="shrank while it was being read") as err:
        writer.add_file("cri-o/f", 0o644, path, what="component x")
    writer.abort()
    assert err.value.exit_code == ExitCode.BUILD


def test_every_reader_here_reads_all_members(tmp_path: Path) -> None:
    """A bundle is one gzip member per block: gzip, pigz, GNU tar, isal (crio-get) and `verify` read them all."""
    import subprocess

    from crio_release.publish.verify import _check_listed_files
    from helpers.golden_tree import make_tree, write
    from isal import igzip

    entries = make_tree(tmp_path)
    tarball = tmp_path / "b.tar.gz"
    tarball.write_bytes(write(entries, workers=2))
    raw = gzip.decompress(tarball.read_bytes())
    assert len(raw) > 3 * BLOCK_SIZE
    subprocess.run(["gzip", "-t", str(tarball)], check=True)
    assert subprocess.run(["pigz", "-dc", str(tarball)], capture_output=True, check=True).stdout == raw
    with igzip.open(tarball, "rb") as handle:
        assert handle.read() == raw
    listed = subprocess.run(["tar", "-tzf", str(tarball)], capture_output=True, text=True, check=True).stdout.split()
    assert listed[-1] == "cri-o/manifest.json" and {name for name, _, _ in entries} <= set(listed)
    last = entries[-1]   # the last file of the tree lives in the last member
    digest = hashlib.sha256(last[2].read_bytes()).hexdigest()
    assert _check_listed_files("sbom", tarball, {last[0]: digest}) == []
    assert _check_listed_files("sbom", tarball, {last[0]: "0" * 64}) == [
        f"sbom records other sha256 than the tarball for: {last[0]}"]


def test_exact_block_multiples_and_empty_input_stay_valid_gzip() -> None:
    from crio_release.build.tarball import ParallelGzipWriter

    for size, members in ((0, 1), (2 * BLOCK_SIZE, 2), (2 * BLOCK_SIZE + 1, 3)):
        data = hashlib.shake_256(str(size).encode()).digest(size // 2) + b"z" * (size - size // 2)
        out = io.BytesIO()
        writer = ParallelGzipWriter(out, 2)
        writer.write(data)
        writer.close()
        assert gzip.decompress(out.getvalue()) == data
        rest, count = out.getvalue(), 0
        while rest:   # zlib's gzip reader stops at the end of each member
            reader = zlib.decompressobj(31)
            reader.decompress(rest)
            assert reader.eof
            rest, count = reader.unused_data, count + 1
        assert count == members
