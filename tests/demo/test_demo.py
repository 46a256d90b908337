"""The README's first command, end to end: build, sign, publish, serve, install with scripts/get, run, uninstall."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from crio.version import version

ROOT = Path(__file__).resolve().parents[2]


def _demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crio_release.cli", "demo", "--workdir", str(workdir),
                           "--branch", "main"], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_demo_runs_the_whole_chain_and_is_idempotent(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    head = re.search(r"revision   ([0-9a-f]{40}) \(branch main\)", out)[1]
    assert head == subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    uploaded = re.search(r"published  \S+: (\d+) uploaded \((\d+) bytes\), (\d+) already there", out)
    assert uploaded, out
    # 2 architectures x (tarball, checksum, SBOM, 2 signatures) + manifest + its signature
    assert (int(uploaded[1]), int(uploaded[3])) == (12, 0) and int(uploaded[2]) > 0
    assert f"latest-main.txt -> {head}" in out
    assert f"crio-status --version: crio-status version {version()}" in out
    assert "signature verified" in out and "sha256 verified" in out
    assert "uninstalled every installed file" in out
    for arch in ("amd64", "arm64"):
        tarball = tmp_path / "out" / f"cri-o.{arch}.{head}.tar.gz"
        assert (tmp_path / "bucket" / "artifacts" / tarball.name).read_bytes() == tarball.read_bytes()
    assert [p for p in (tmp_path / "root").rglob("*") if p.is_file()] == []
    assert (tmp_path / "bucket" / "latest-main.txt").read_text().strip() == head

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"published  \S+: 0 uploaded \(0 bytes\), 12 already there", second.stdout), second.stdout
    assert "uninstalled every installed file" in second.stdout
