"""Nothing assumes a checkout: the commit date comes from the repository being released, and a
non-editable install of the toolkit builds bundles inside a clone of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

from helpers.gitrel import GIT_IDENTITY, git

from crio.artifacts import tarball_name
from crio.errors import ExitCode
from crio.revision import parse_revision

REPO = Path(__file__).resolve().parents[2]
#: A commit date no other test uses, so the entries' mtime can only have come from that commit.
COMMIT_DATE = 1_600_000_000
DATED = {**GIT_IDENTITY, "GIT_AUTHOR_DATE": f"@{COMMIT_DATE} +0000", "GIT_COMMITTER_DATE": f"@{COMMIT_DATE} +0000"}


def _env(*drop: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", *drop)}


def _crio_release(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crio_release.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env=_env(), timeout=120)


def _mtimes(tarball: Path) -> set[int]:
    with tarfile.open(tarball) as tar:
        return {int(member.mtime) for member in tar.getmembers()}


def test_the_commit_date_comes_from_the_repository_being_released(tmp_path: Path) -> None:
    released = tmp_path / "released"
    released.mkdir()
    git(released, "init", "-q", "-b", "main")
    (released / "README").write_text("released\n")
    git(released, "add", "README")
    git(released, "commit", "-q", "-m", "the commit being released", env=DATED)
    sha = git(released, "rev-parse", "HEAD")
    elsewhere = tmp_path / "elsewhere"   # not a git repository
    elsewhere.mkdir()

    by_option = _crio_release("bundle", "--rev", sha, "--arch", "amd64", "--repo", str(released),
                              "--out", str(tmp_path / "a"), cwd=elsewhere)
    assert by_option.returncode == 0, by_option.stderr
    by_cwd = _crio_release("bundle", "--rev", sha, "--arch", "amd64", "--out", str(tmp_path / "b"), cwd=released)
    assert by_cwd.returncode == 0, by_cwd.stderr
    name = tarball_name("amd64", parse_revision(sha))
    assert _mtimes(tmp_path / "a" / name) == {COMMIT_DATE} == _mtimes(tmp_path / "b" / name)
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    nowhere = _crio_release("bundle", "--rev", sha, "--arch", "amd64", "--out", str(tmp_path / "c"), cwd=elsewhere)
    assert nowhere.returncode == ExitCode.USAGE
    assert len(nowhere.stderr.strip().splitlines()) == 1
    assert "(it is not a git repository); pass --repo PATH" in nowhere.stderr
    assert not (tmp_path / "c").exists()


def _project_snapshot(dest: Path) -> str:
    """A git repository holding the project's files as they are now (tracked and new, never ignored ones),
    committed at COMMIT_DATE: "a clone of the project" that includes uncommitted work under test."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot", env=DATED)
    return git(dest, "rev-parse", "HEAD")


def _dependencies_only(dest: Path) -> Path:
    """The test environment's installed libraries without this project (nor its editable hook)."""
    dest.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.startswith(("crio", "__editable__")) or entry.name == "__pycache__":
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


def test_a_non_editable_install_bundles_inside_a_clone(tmp_path: Path) -> None:
    """`pip install .` (a wheel copied into site-packages, no link back to any checkout) into a fresh venv,
    then `crio-release bundle` in a clone: the commit date, the spec and the bundle files are all found.

    Offline: the fresh venv sees the test environment's dependencies through a site directory that holds
    everything but this project, so pip resolves every requirement from there (`--no-index`) and builds
    the project's own wheel with that setuptools (`--no-build-isolation`).
    """
    project = tmp_path / "project"
    sha = _project_snapshot(project)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = _dependencies_only(tmp_path / "deps")
    Path(site, "_test_dependencies.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
                              "--no-build-isolation", "--no-cache-dir", "--quiet", str(project)],
                             capture_output=True, text=True, env=_env("PYTHONPATH"), timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    where = subprocess.run([str(python), "-P", "-c", "import crio, crio_release; print(crio.__file__); "
                            "print(crio_release.__file__)"], cwd=tmp_path, capture_output=True, text=True,
                           env=_env("PYTHONPATH"), check=True).stdout.split()
    assert all(Path(path).is_relative_to(site) for path in where), where

    out = tmp_path / "out"
    built = subprocess.run([str(venv / "bin" / "crio-release"), "bundle", "--rev", sha, "--out", str(out)],
                           cwd=project, capture_output=True, text=True, env=_env("PYTHONPATH"), timeout=120)
    assert built.returncode == 0, built.stderr
    for arch in ("amd64", "arm64"):
        tarball = out / tarball_name(arch, parse_revision(sha))
        assert _mtimes(tarball) == {COMMIT_DATE}
        with tarfile.open(tarball) as tar:
            assert {"cri-o/install", "cri-o/manifest.json", "cri-o/bin/crio-status"} <= set(tar.getnames())


def test_the_repository_is_found_from_a_subdirectory_and_an_export_has_no_git(tmp_path: Path) -> None:
    from crio_release.build.repository import ReleaseRepository

    repository = ReleaseRepository.at(REPO / "crio")   # a subdirectory: the git top directory is used
    assert repository.tree == REPO
    assert repository.nix_dir == REPO / "nix" and (REPO / "nix" / "default.nix").is_file()
    assert repository.get_script == REPO / "scripts" / "get" and repository.get_script.is_file()
    export = ReleaseRepository.at(tmp_path)               # files without .git: found there, no git facts
    assert (export.top, export.tree, export.tree_state()) == (None, tmp_path, "unknown")
