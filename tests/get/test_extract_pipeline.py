"""crio-get's extraction pipeline: the decompressing thread only inflates and parses, a sink thread writes
and hashes, and tarfile reads the stream through a forward-only reader (issue 17: the stream is the
decompressor's speed). What each piece must still guarantee: every byte and name exactly as archived
(long names in both GNU and pax form included), a write error surfacing as an extraction error with no
descriptor left open, and a stream that can only go forward."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from crio_installer.extract import StreamingExtractor, UnsafeArchive, _ForwardReader
from isal import igzip

LONG_DIR = "cri-o/contrib/" + "/".join(["a-rather-long-directory-name"] * 5)


def _tarball(path: Path, files: dict[str, bytes], fmt: int) -> Path:
    """A gzipped tar of `files` (parents as directory entries first) in tarfile format `fmt`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        made: set[str] = set()
        for name, data in files.items():
            parts = name.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    made.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name.endswith("install") else 0o644
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return path


def _bundle_files(extra: dict[str, bytes]) -> dict[str, bytes]:
    files = {"cri-o/install": b"#!/bin/bash\necho install\n", **extra}
    manifest = {"files": [{"path": name.removeprefix("cri-o/"), "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in files.items()]}
    return {**files, "cri-o/manifest.json": json.dumps(manifest).encode()}


def _extract(tarball: Path, staging: Path, piece: int = 65536) -> StreamingExtractor:
    extractor = StreamingExtractor(staging)
    data = tarball.read_bytes()
    for start in range(0, len(data), piece):
        extractor.feed(data[start:start + piece])
    extractor.finish()
    return extractor


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_long_names_and_multi_block_files_come_out_exact(fmt: int, tmp_path: Path) -> None:
    """Names past 100 bytes need a second header (GNU longname or pax) that tarfile reads through the
    forward-only reader; files larger than the 1 MiB block and not a multiple of 512 cross the padding."""
    big = os.urandom(3 * 1024 * 1024 + 777)
    files = _bundle_files({f"{LONG_DIR}/file-with-a-long-name.conf": b"long\n", "cri-o/bin/crio": big,
                           "cri-o/bin/empty": b""})
    assert len(LONG_DIR) > 100
    extractor = _extract(_tarball(tmp_path / "b.tar.gz", files, fmt), tmp_path / "staging")
    assert extractor.manifest_checked
    for name, data in files.items():
        assert (tmp_path / "staging" / name).read_bytes() == data, name
    assert (tmp_path / "staging/cri-o/install").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "staging/cri-o/bin/crio").stat().st_mode & 0o777 == 0o644


def test_a_file_that_differs_from_the_manifest_is_refused_after_the_sink_hashed_it(tmp_path: Path) -> None:
    """The sink thread's sha256 is what the manifest check reads: one flipped byte is caught."""
    files = _bundle_files({"cri-o/bin/crio": b"x" * 2_000_000})
    files["cri-o/bin/crio"] = b"x" * 1_999_999 + b"y"
    with pytest.raises(UnsafeArchive, match=r"bin/crio does not match manifest\.json"):
        _extract(_tarball(tmp_path / "b.tar.gz", files, tarfile.GNU_FORMAT), tmp_path / "staging")


def test_the_forward_reader_refuses_to_seek_back() -> None:
    reader = _ForwardReader(igzip.IGzipFile(fileobj=io.BytesIO(gzip.compress(bytes(range(256)) * 8))))
    assert reader.read(10) == bytes(range(10))
    assert reader.seek(100) == 100 and reader.tell() == 100
    assert reader.read(1) == bytes([100])
    with pytest.raises(tarfile.ReadError, match="seek back"):
        reader.seek(50)
    assert reader.seek(5000) == 2048        # past the end: stops there, and the next read is empty
    assert reader.read(1) == b""


WRITE_FAILS = textwrap.dedent("""
    import os, resource, signal, sys
    from pathlib import Path
    from crio_installer.extract import StreamingExtractor, UnsafeArchive
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
    before = sorted(os.listdir("/proc/self/fd"))
    extractor = StreamingExtractor(Path(sys.argv[2]))
    try:
        extractor.feed(Path(sys.argv[1]).read_bytes())
        extractor.finish()
    except UnsafeArchive as exc:
        print("refused:", exc)
    extractor.abort()
    print("fds", "same" if sorted(os.listdir("/proc/self/fd")) == before else sorted(os.listdir("/proc/self/fd")))
""")


def test_a_write_error_in_the_sink_is_an_extraction_error_and_leaks_no_descriptor(tmp_path: Path) -> None:
    """A file the node cannot hold (here RLIMIT_FSIZE: 1 MiB) fails the extraction with the system's reason,
    the same way a full disk would, and every file and directory descriptor is closed. (The staging directory
    itself, with whatever the extractor had created meanwhile, is the caller's to remove.)"""
    files = _bundle_files({"cri-o/bin/conmon": b"c" * 4000, "cri-o/bin/crio": os.urandom(3 * 1024 * 1024),
                           "cri-o/etc/crio.conf": b"conf\n"})
    tarball = _tarball(tmp_path / "b.tar.gz", files, tarfile.GNU_FORMAT)
    (tmp_path / "staging").parent.mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-c", WRITE_FAILS, str(tarball), str(tmp_path / "staging")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "refused: the tarball cannot be extracted" in result.stdout
    assert "File too large" in result.stdout
    assert "fds same" in result.stdout
