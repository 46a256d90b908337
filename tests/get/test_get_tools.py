"""scripts/get with other tool sets: wget instead of curl, and a host with neither (exit code 8).

A PATH of symlinks to every tool in /usr/bin and /bin except the ones a case removes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.get_fixtures import copy_bucket, run_get
from helpers.http_server import FaultServer

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR, object_path, tarball_name
from crio.errors import ExitCode

TAG = "v1.21.0"
TARBALL = "/" + object_path(tarball_name("amd64", TAG))


def path_without(tmp_path: Path, *missing: str) -> str:
    tools = tmp_path / "tools"
    tools.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if name in missing or (tools / name).exists():
                continue
            (tools / name).symlink_to(Path(directory) / name)
    return str(tools)


@pytest.mark.parametrize("faults", [[], ["status:503", "truncate"]], ids=["plain", "503-then-truncated"])
def test_wget_instead_of_curl(faults: list[str], published, tmp_path: Path) -> None:
    bucket = copy_bucket(published.plain, tmp_path / "bucket")
    dest = tmp_path / "dest"
    with FaultServer(bucket) as server:
        for kind in faults:
            server.fault(TARBALL, kind)
        result = run_get("bash", ["-a", "amd64", "-m", server.url, "-t", TAG], destdir=dest, tmpdir=tmp_path / "tmp",
                         env={"PATH": path_without(tmp_path, "curl")})
    assert result.returncode == 0, result.stderr
    assert (dest / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).is_file()


def test_wget_marker_not_found_is_a_resolution_error(published, tmp_path: Path) -> None:
    bucket = copy_bucket(published.plain, tmp_path / "bucket")
    with FaultServer(bucket) as server:
        server.fault("/latest-bundle-main.txt", "html404", None)   # absent, and so is its fallback
        server.fault("/latest-main.txt", "html404", None)
        result = run_get("bash", ["-a", "amd64", "-m", server.url], destdir=tmp_path / "dest",
                         tmpdir=tmp_path / "tmp", env={"PATH": path_without(tmp_path, "curl")})
    assert result.returncode == ExitCode.RESOLUTION, result.stderr
    assert "not found" in result.stderr


def test_no_downloader_is_a_missing_tool(published, tmp_path: Path) -> None:
    result = run_get("bash", ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG], destdir=tmp_path / "dest",
                     tmpdir=tmp_path / "tmp", env={"PATH": path_without(tmp_path, "curl", "wget")})
    assert result.returncode == ExitCode.MISSING_TOOL
    assert "curl" in result.stderr and "wget" in result.stderr
    assert not (tmp_path / "dest").exists()


def test_sha256_falls_back_to_openssl(published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = run_get("bash", ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG], destdir=dest,
                     tmpdir=tmp_path / "tmp", env={"PATH": path_without(tmp_path, "sha256sum", "shasum")})
    assert result.returncode == 0, result.stderr
