"""Git access for the release-manager commands: reads through gitpython, writes as a plan of git commands.

Every write is one `git ...` command run by a `GitRunner`. With `dry_run` the
runner prints the exact commands (values produced by earlier commands shown
as `$name`) and runs none, so a dry run changes nothing in any repository.
Commits are made with plumbing (a temporary index, `commit-tree`,
`update-ref` with the expected old value) so a branch can be committed to
without checking it out and without touching the user's work tree or index;
when the branch is the one checked out, the work tree follows with
`git merge --ff-only`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import git

from crio.errors import CrioError, ExitCode
from crio.revision import Version

#: Reads must not refresh the index or take locks: a dry run leaves .git byte-for-byte unchanged.
READ_ENV = {"GIT_OPTIONAL_LOCKS": "0"}


def refused(message: str) -> CrioError:
    """A precondition the release process forbids: exit code REFUSED."""
    return CrioError(message, ExitCode.REFUSED)


def git_failed(message: str) -> CrioError:
    return CrioError(message, ExitCode.GIT)


def open_repo(path: str | Path | None = None) -> git.Repo:
    """Open the git repository at PATH (default: the current directory) or fail with exit code GIT."""
    where = Path(path) if path is not None else Path.cwd()
    try:
        repo = git.Repo(where)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise git_failed(f"{where} is not a git repository; pass --repo PATH of a git checkout") from None
    repo.git.update_environment(**READ_ENV)
    return repo


def rev_sha(repo: git.Repo, rev: str) -> str:
    """The full commit SHA a revision names; an unknown one is a bad argument (USAGE)."""
    try:
        return repo.commit(rev).hexsha
    except (git.BadName, ValueError, git.GitCommandError):
        raise CrioError(f"unknown revision {rev!r} in {repo.working_dir}: expected a tag, branch or commit "
                        "of that repository", ExitCode.USAGE) from None


def local_branch_sha(repo: git.Repo, branch: str) -> str | None:
    ref = f"refs/heads/{branch}"
    try:
        return repo.git.rev_parse("--verify", "--quiet", ref + "^{commit}").strip() or None
    except git.GitCommandError:
        return None


def remote_branch_sha(repo: git.Repo, remote: str, branch: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"refs/remotes/{remote}/{branch}^{{commit}}").strip() or None
    except git.GitCommandError:
        return None


def tag_sha(repo: git.Repo, tag: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"refs/tags/{tag}^{{commit}}").strip() or None
    except git.GitCommandError:
        return None


def version_tags(repo: git.Repo, merged_into: str | None = None) -> dict[Version, str]:
    """Every `vMAJOR.MINOR.PATCH[-PRE]` tag by its parsed version -> commit SHA; other tags are ignored.

    One `git for-each-ref` (peeled, so annotated and lightweight tags both
    give their commit); with MERGED_INTO only tags that are its ancestors.
    """
    args = ["--format=%(refname:strip=2) %(objectname) %(*objectname)"]
    if merged_into:
        args.append(f"--merged={merged_into}")
    out: dict[Version, str] = {}
    for line in repo.git.for_each_ref(*args, "refs/tags").splitlines():
        name, sha, *peeled = line.split(" ")
        if not name.startswith("v"):
            continue
        try:
            version = Version.parse(name)
        except CrioError:
            continue
        out[version] = peeled[0] if peeled and peeled[0] else sha
    return out


def config_bool(repo: git.Repo, key: str) -> bool:
    """A boolean from the user's git config, parsed by git itself (yes/on/1/true), never by Python truthiness."""
    try:
        return repo.git.config("--type=bool", "--get", key).strip() == "true"
    except git.GitCommandError:
        return False


def is_ancestor(repo: git.Repo, ancestor: str, descendant: str) -> bool:
    return bool(repo.is_ancestor(ancestor, descendant))


def checked_out_branch(repo: git.Repo) -> str | None:
    """The branch of the main work tree, or None for a bare repository or a detached HEAD."""
    if repo.bare or repo.head.is_detached:
        return None
    return repo.active_branch.name


def is_dirty(repo: git.Repo) -> bool:
    """Tracked files changed in the index or the work tree (untracked files do not count)."""
    return not repo.bare and repo.is_dirty(index=True, working_tree=True, untracked_files=False)


def file_at(repo: git.Repo, sha: str, path: str) -> tuple[str, str] | None:
    """(text, mode) of a file in a commit's tree, or None when the commit has no such file."""
    try:
        blob = repo.commit(sha).tree / path
    except KeyError:
        return None
    if blob.type != "blob":
        return None
    return blob.data_stream.read().decode("utf-8"), f"{blob.mode:o}"


def commits_between(repo: git.Repo, base: str, tip: str) -> list[git.Commit]:
    """Commits reachable from tip and not from base, newest first."""
    return list(repo.iter_commits(f"{base}..{tip}"))


# The plan/executor -----------------------------------------------------------


@dataclass
class GitRunner:
    """Runs (or, in a dry run, prints) git commands in one repository.

    `echo` receives each command line as a shell-like string; in a real run it
    is the log of what was done, in a dry run it is all that happens.
    """

    repo: git.Repo
    dry_run: bool
    echo: Callable[[str], None]
    lines: list[str] = field(default_factory=list)
    _placeholders: set[str] = field(default_factory=set)

    @property
    def cwd(self) -> str:
        return str(self.repo.working_tree_dir or self.repo.git_dir)

    def run(self, args: list[str], *, name: str | None = None, stdin: str | None = None,
            stdin_note: str = "", env: dict[str, str] | None = None, env_shown: str = "",
            check: bool = True) -> str:
        """Run `git ARGS`; return its stdout stripped (in a dry run: `$name`)."""
        shown = f"{env_shown} " if env_shown else ""
        line = f"{shown}git {self._join(args)}"
        if name:
            line = f"{name}=$({line})"
        if stdin is not None:
            line += f"  # stdin: {stdin_note or repr(stdin)}"
        self.lines.append(line)
        self.echo(line)
        if self.dry_run:
            if not name:
                return ""
            self._placeholders.add(f"${name}")
            return f"${name}"
        proc = subprocess.run(["git", *args], cwd=self.cwd, input=stdin, capture_output=True, text=True,
                              encoding="utf-8",
                              env={**os.environ, **(env or {})}, check=False)
        if proc.returncode != 0 and check:
            detail = " ".join((proc.stderr or proc.stdout).split()) or f"exit status {proc.returncode}"
            raise git_failed(f"git {args[0]} failed: {detail}")
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def _join(self, args: list[str]) -> str:
        """Shell-quote ARGS; arguments holding a `$name` of an earlier dry-run command keep it expandable."""
        return " ".join(f'"{a}"' if any(p in a for p in self._placeholders) else shlex.quote(a) for a in args)

    def try_run(self, args: list[str]) -> tuple[bool, str]:
        """Run a command whose failure the caller handles (a rejected push); dry run: success."""
        line = f"git {self._join(args)}"
        self.lines.append(line)
        self.echo(line)
        if self.dry_run:
            return True, ""
        proc = subprocess.run(["git", *args], cwd=self.cwd, capture_output=True, text=True,
                              encoding="utf-8",
                              check=False)
        return proc.returncode == 0, " ".join((proc.stderr or proc.stdout).split())

    def note(self, text: str) -> None:
        """A comment line in the printed plan (what happens between git commands)."""
        line = f"# {text}"
        self.lines.append(line)
        self.echo(line)

    # Composite operations ----------------------------------------------------

    def commit_files(self, branch: str, parent: str | None, files: dict[str, str], message: str,
                     modes: dict[str, str] | None = None, *, replaces: str | bool | None = True) -> str:
        """Commit FILES (path -> text) on top of PARENT as the new head of BRANCH; return the commit.

        Uses a temporary index so neither the user's index nor work tree is
        touched unless BRANCH is checked out, in which case it is fast-forwarded.
        The ref update names the expected old value (PARENT, or REPLACES when
        the branch is moved elsewhere, None when it must not exist yet): a
        concurrent change fails it.
        """
        modes = modes or {}
        with tempfile.TemporaryDirectory(prefix="crio-release-") as tmp:
            index = str(Path(tmp) / "index")
            env = {"GIT_INDEX_FILE": index}
            shown = "GIT_INDEX_FILE=$tmp_index"
            if parent:
                self.run(["read-tree", parent], env=env, env_shown=shown)
            else:
                self.run(["read-tree", "--empty"], env=env, env_shown=shown)
            for i, (path, text) in enumerate(sorted(files.items())):
                blob_name = "blob" if len(files) == 1 else f"blob{i + 1}"
                blob = self.run(["hash-object", "-w", "--stdin"], name=blob_name, stdin=text,
                                stdin_note=f"new {path} ({len(text.encode())} bytes)")
                mode = modes.get(path, "100644")
                self.run(["update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}"], env=env,
                         env_shown=shown)
            tree = self.run(["write-tree"], name="tree", env=env, env_shown=shown)
        parents = ["-p", parent] if parent else []
        # commit-tree ignores commit.gpgSign, unlike `git commit`: honour it explicitly.
        sign = ["-S"] if config_bool(self.repo, "commit.gpgSign") else []
        commit = self.run(["commit-tree", tree, *parents, *sign, "-m", message], name="commit")
        old = parent if replaces is True else (replaces or None)
        if replaces is True:
            self.move_branch(branch, old, commit)
        else:
            self.run(["update-ref", f"refs/heads/{branch}", commit, old or "0" * 40])
        return commit

    def move_branch(self, branch: str, old: str | None, new: str) -> None:
        """Point BRANCH at NEW (a descendant of OLD); the checked-out branch is fast-forwarded in place."""
        if old is not None and checked_out_branch(self.repo) == branch:
            self.run(["merge", "--ff-only", "--quiet", new])
            return
        self.run(["update-ref", f"refs/heads/{branch}", new, old or "0" * 40])
