"""One version source, and the build information `python -m crio version` prints."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import crio
from crio.revision import Version
from crio.version import collect_build_info, read_version_text, stamp_build_info, version

ROOT = Path(__file__).resolve().parents[2]


def test_version_has_one_source() -> None:
    text = (ROOT / "crio" / "VERSION").read_text()
    assert version() == Version.parse(text.strip())
    assert crio.__version__ == text.strip()
    installed = subprocess.run([sys.executable, "-c",
                                "import importlib.metadata as m; print(m.version('crio-release-toolkit'))"],
                               capture_output=True, text=True)
    assert installed.stdout.strip() == text.strip()


@pytest.mark.parametrize("bad", ["", "1.2", "1.2.3\n1.2.4\n", " 1.2.3", "v1.2.3x", "latest"])
def test_version_file_content_is_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        read_version_text(bad)


def test_version_command_text_and_json() -> None:
    text = subprocess.run([sys.executable, "-m", "crio", "version"], capture_output=True, text=True, check=True)
    labels = [line.split(":")[0] for line in text.stdout.splitlines()]
    assert labels == ["Version", "GitCommit", "GitTreeState", "BuildDate", "Platform", "PythonVersion"]
    out = subprocess.run([sys.executable, "-m", "crio", "version", "--json"], capture_output=True, text=True,
                         check=True)
    data = json.loads(out.stdout)
    assert data["version"] == str(version())
    assert data["git_tree_state"] in {"clean", "dirty", "unknown"}
    assert data["platform"].startswith("linux/")


def test_build_info_of_a_real_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "src"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "-C", str(repo), "add", "f"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "c"], check=True)
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    when = datetime(2021, 6, 1, 12, 0, tzinfo=UTC)
    info = collect_build_info(repo, when)
    assert (info.git_commit, info.git_tree_state, info.build_date) == (sha, "clean", "2021-06-01T12:00:00Z")
    (repo / "f").write_text("changed")
    assert collect_build_info(repo, when).git_tree_state == "dirty"
    stamped = json.loads(stamp_build_info(info))
    assert stamped["git_commit"] == sha and stamped["version"] == str(version())
