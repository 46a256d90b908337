"""`install --verified-tarball SHA256`: what an installer that verified the tarball may skip, and what it may not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.bundle_install import run_install, sha256, snapshot

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR

TARBALL_SHA = "ab" * 32


def _record(destdir: Path) -> dict[str, str]:
    text = (destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_text()
    return {fields[0]: fields[1] for fields in (line.split("\t") for line in text.splitlines())}


def test_installs_with_manifest_hashes_in_the_record(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    out = run_install(bundle / "install", "--verified-tarball", TARBALL_SHA, env=env)
    assert out.returncode == 0, out.stderr
    assert f"tarball sha256 {TARBALL_SHA}" in out.stdout
    record = _record(destdir)
    installed = destdir / "usr/local/bin/crio-status"
    assert record["/usr/local/bin/crio-status"] == sha256(installed) == sha256(bundle / "bin/crio-status")
    plain = destdir.parent / "plain"
    plain.mkdir()
    assert run_install(bundle / "install", env={**env, "DESTDIR": str(plain)}).returncode == 0
    assert snapshot(plain) == snapshot(destdir)


def test_files_are_not_hashed_again(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    """The point of the option: the caller's tarball check stands for the manifest check (not repeated)."""
    (bundle / "bin/crio-status").write_bytes(b"#!/bin/sh\necho changed after verification\n")
    assert run_install(bundle / "install", env=env).returncode == 6
    out = run_install(bundle / "install", f"--verified-tarball={TARBALL_SHA}", env=env)
    assert out.returncode == 0, out.stderr
    listed = json.loads((bundle / "manifest.json").read_text())
    expected = next(f["sha256"] for f in listed["files"] if f["path"] == "bin/crio-status")
    assert _record(destdir)["/usr/local/bin/crio-status"] == expected


def test_unlisted_file_is_still_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "bin/smuggled").write_bytes(b"#!/bin/sh\n")
    out = run_install(bundle / "install", "--verified-tarball", TARBALL_SHA, env=env)
    assert out.returncode == 6
    assert "bin/smuggled is not listed in manifest.json" in out.stderr
    assert snapshot(destdir) == {}


def test_missing_file_is_still_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "man/crio-status.8").unlink()
    out = run_install(bundle / "install", "--verified-tarball", TARBALL_SHA, env=env)
    assert out.returncode == 6
    assert "man/crio-status.8 is listed in manifest.json but missing" in out.stderr
    assert snapshot(destdir) == {}


@pytest.mark.parametrize("args", [["--verified-tarball"], ["--verified-tarball", "abc"],
                                  ["--verified-tarball", "AB" * 32], ["--verified-tarball="]])
def test_bad_value_is_a_usage_error(bundle: Path, destdir: Path, env: dict[str, str], args: list[str]) -> None:
    out = run_install(bundle / "install", *args, env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("install: error: --verified-tarball")
    assert snapshot(destdir) == {}


def test_help_names_the_option(bundle: Path, env: dict[str, str]) -> None:
    out = run_install(bundle / "install", "--help", env=env)
    assert out.returncode == 0
    assert "--verified-tarball SHA256" in out.stdout
