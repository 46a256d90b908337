"""Real git repositories for the release-manager tests: a bare origin, clones, PR merges and squashes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.invalid",
    "GIT_COMMITTER_NAME": "Release Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.invalid",
}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in CWD; fail the test with git's message when it fails."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def commit_file(repo: Path, path: str, text: str, message: str, author: str | None = None) -> str:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    git(repo, "add", "--", path)
    env = {}
    if author:
        env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author}@example.invalid"}
    git(repo, "commit", "-q", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")


def release_note(text: str, kind: str | None = None) -> str:
    kind_line = f"/kind {kind}\n\n" if kind else ""
    return f"{kind_line}```release-note\n{text}\n```\n"


def merge_pr(repo: Path, number: int, user: str, topic: str, path: str, text: str, body: str) -> str:
    """A GitHub-style merge: a topic branch by USER merged with --no-ff and the PR description as body."""
    base = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    git(repo, "checkout", "-q", "-b", topic)
    commit_file(repo, path, text, f"work on {topic}", author=user)
    git(repo, "checkout", "-q", base)
    git(repo, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from {user}/{topic}\n\n{body}", topic)
    git(repo, "branch", "-q", "-D", topic)
    return git(repo, "rev-parse", "HEAD")


def squash_pr(repo: Path, number: int, user: str, title: str, path: str, text: str, body: str) -> str:
    """A GitHub-style squash merge: `title (#N)` with the PR description as body."""
    return commit_file(repo, path, text, f"{title} (#{number})\n\n{body}", author=user)


@dataclass
class Remote:
    origin: Path
    clone: Path


def make_origin_and_clone(tmp: Path, version: str = "1.22.0", branch: str = "main") -> Remote:
    """A bare origin whose main holds crio/VERSION = VERSION, and a clone of it with identity set."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", branch, str(origin))
    seed = tmp / "seed"
    git(tmp, "init", "-q", "-b", branch, str(seed))
    configure(seed)
    commit_file(seed, "crio/VERSION", f"{version}\n", "Initial commit")
    commit_file(seed, "README.md", "cri-o\n", "Add README")
    git(seed, "push", "-q", str(origin), f"{branch}:{branch}")
    clone = tmp / "clone"
    git(tmp, "clone", "-q", str(origin), str(clone))
    configure(clone)
    return Remote(origin, clone)


def go_version_file(version: str, padding: int = 0) -> str:
    """A Go source laid out like CRI-O's internal/version/version.go: the constant among other code."""
    filler = "".join(f"\n// helper{i} keeps this file long, as the real one is.\nfunc helper{i}() int {{ return {i} }}\n"
                     for i in range(padding))
    return (
        "package version\n\n"
        'import (\n\t"fmt"\n\t"runtime"\n)\n\n'
        "// Version is the version of the build.\n"
        f'const Version = "{version}"\n\n'
        "// ReleaseMinorVersions are the minors that still receive patch releases.\n"
        'var ReleaseMinorVersions = []string{"1.35", "1.34"}\n\n'
        'func String() string { return fmt.Sprintf("%s %s", Version, runtime.Version()) }\n'
        + filler
    )


CRIO_CONFIG = """# where crio-release finds the version
[[version]]
file = "internal/version/version.go"
kind = "go-const"
name = "Version"
"""


def make_crio_like_origin_and_clone(tmp: Path, version: str = "1.36.0", config: str | None = CRIO_CONFIG) -> Remote:
    """A bare origin laid out like CRI-O (internal/version/version.go, optional .crio-release.toml) and a clone."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp / "seed"
    git(tmp, "init", "-q", "-b", "main", str(seed))
    configure(seed)
    commit_file(seed, "internal/version/version.go", go_version_file(version), "Initial commit")
    if config is not None:
        commit_file(seed, ".crio-release.toml", config, "Configure the version sources")
    commit_file(seed, "go.mod", "module github.com/cri-o/cri-o\n\ngo 1.24\n", "Add go.mod")
    git(seed, "push", "-q", str(origin), "main:main")
    clone = tmp / "clone"
    git(tmp, "clone", "-q", str(origin), str(clone))
    configure(clone)
    return Remote(origin, clone)


def configure(repo: Path) -> None:
    git(repo, "config", "user.name", "Release Tester")
    git(repo, "config", "user.email", "tester@example.invalid")


def tree_digest(*roots: Path) -> str:
    """Hash of every file's path, mode and bytes under ROOTS (incl. .git): equal means unchanged."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = str(path.relative_to(root)).encode()
            if path.is_symlink():
                digest.update(b"L" + rel + os.readlink(path).encode())
            elif path.is_file():
                digest.update(b"F" + rel + oct(path.stat().st_mode).encode() + hashlib.sha256(path.read_bytes()).digest())
            elif path.is_dir():
                digest.update(b"D" + rel)
    return digest.hexdigest()


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def crio_release(*args: str) -> Outcome:
    """Run `crio-release ARGS` in process through run_main: real option parsing, exit codes and messages."""
    from crio_release.cli import cli

    from crio.cli import run_main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run_main(cli, list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Outcome(code, out.getvalue(), err.getvalue())
