"""crio_installer's library functions without the CLI: marker reading, member checks, signature policy,
resumed streams, and the streaming extractor on a real tarball."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from crio_installer.extract import MemberChecker, StreamingExtractor, UnsafeArchive
from crio_installer.resolve import marker_or_revision
from crio_installer.verify import signature_policy
from helpers.get_fixtures import HOSTILE_KINDS, hostile_tarball, write_bundle
from helpers.http_server import FaultServer

from crio.download import DownloadFailed, Fetcher, NotFound, RetryPolicy
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("data", "name", "expected"), [
    (b"v1.21.3\n", "latest-1.21.txt", "v1.21.3"),
    (b"  v1.21.3  \r\n", "latest-1.21.txt", "v1.21.3"),
    (SHA.upper().encode() + b"\n", "latest-main.txt", SHA),
    (b"", "latest-main.txt", None),
    (b"\n\n", "latest-main.txt", None),
    (b"<html><body>404</body></html>", "latest-main.txt", None),
    (b"stable\n", "latest-main.txt", None),
    (b"v1.22.0\n", "latest-1.21.txt", None),
    (b"v1.21.3\nv1.21.4\n", "latest-1.21.txt", None),
    (b"v" * 5000, "latest-main.txt", None),
])
def test_read_marker(data: bytes, name: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(CrioError) as info:
            read_marker(data, name)
        assert info.value.exit_code == ExitCode.RESOLUTION
    else:
        assert str(read_marker(data, name)) == expected


def test_marker_or_revision() -> None:
    assert marker_or_revision(None) == (("latest-bundle-main.txt", "latest-main.txt"), None)
    assert marker_or_revision("v1.21") == (("latest-1.21.txt", None), None)
    assert marker_or_revision("release-1.36") == (("latest-bundle-release-1.36.txt", "latest-release-1.36.txt"),
                                                  None)
    assert marker_or_revision("1.21.0") == (None, "v1.21.0")
    for bad in ("0123abc", "release-x", "release-1.36.0", "main"):
        with pytest.raises(CrioError) as info:
            marker_or_revision(bad)
        assert info.value.exit_code == ExitCode.USAGE, bad


def test_signature_policy_fails_closed(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    assert signature_policy(True, key, False, "t", "u") is True
    assert signature_policy(False, None, False, "t", "u") is False
    assert signature_policy(True, None, True, "t", "u") is False
    for published, given in ((True, None), (False, key)):
        with pytest.raises(CrioError) as info:
            signature_policy(published, given, False, "t", "u")
        assert info.value.exit_code == ExitCode.VERIFICATION


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_member_checker_refuses_every_hostile_kind(kind: str, tmp_path: Path) -> None:
    path = hostile_tarball(tmp_path / "h.tar.gz", kind)
    checker = MemberChecker(max_bytes=10 * 1024 * 1024)
    with tarfile.open(path, "r|gz") as tf, pytest.raises(UnsafeArchive):
        for member in tf:
            checker.check(member)


def test_streaming_extractor_extracts_a_good_bundle(tmp_path: Path) -> None:
    tarball = write_bundle(tmp_path / "b", "amd64", "v1.0.0")
    extractor = StreamingExtractor(tmp_path / "staging")
    data = tarball.read_bytes()
    for start in range(0, len(data), 1000):
        extractor.feed(data[start:start + 1000])
    extractor.finish()
    assert (tmp_path / "staging/cri-o/install").stat().st_mode & 0o111
    assert (tmp_path / "staging/cri-o/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.0.0")


def test_streaming_extractor_stops_at_the_first_hostile_member(tmp_path: Path) -> None:
    tarball = hostile_tarball(tmp_path / "h.tar.gz", "dotdot")
    extractor = StreamingExtractor(tmp_path / "staging")
    with pytest.raises(UnsafeArchive):
        extractor.feed(tarball.read_bytes())
        extractor.finish()
    extractor.abort()
    assert not list(tmp_path.glob("**/crio-get-escaped"))


@pytest.mark.parametrize("faults", [["truncate"], ["reset"], ["truncate", "ignore_range"], ["status:503"],
                                    ["stall"]])
def test_stream_resumes_and_yields_each_byte_once(faults: list[str], tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 4096)
    expected = hashlib.sha256((tmp_path / "blob").read_bytes()).hexdigest()
    with FaultServer(tmp_path) as server:
        for kind in faults:
            server.fault("/blob", kind)
        fetcher = Fetcher(RetryPolicy(timeout=1, attempts=4, delay=0))
        digest = hashlib.sha256()
        for chunk in fetcher.stream(f"{server.url}/blob"):
            digest.update(chunk)
    assert digest.hexdigest() == expected


def test_stream_classifies_failures(tmp_path: Path) -> None:
    with FaultServer(tmp_path) as server:
        fetcher = Fetcher(RetryPolicy(timeout=1, attempts=2, delay=0))
        with pytest.raises(NotFound):
            fetcher.read_small(f"{server.url}/missing")
        server.fault("/gone", "status:400", None)
        with pytest.raises(DownloadFailed):
            fetcher.read_small(f"{server.url}/gone")
        assert server.hits("/gone") == 1, "a 400 is permanent: no retry"
    with pytest.raises(NotFound):
        Fetcher().read_small((tmp_path / "nope").as_uri())
