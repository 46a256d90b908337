"""The repository being released: where a build finds the commit date, tree state and nix expressions.

Why not the toolkit's own files: the toolkit may be installed from a wheel into
site-packages, where there is no git history and no `nix/` or `scripts/`
directory. So every command that needs the project's tree takes `--repo`
(default: the current directory, as for the git commands) and finds them here:
the commit date of `--rev` (the entries' mtime), whether `crio/` has
uncommitted changes (stamped into crio-status), `nix/` (the expressions that
build crio and pinns for that revision) and `scripts/get` (what the demo
installs with). The bundle's own files and specs ship inside the package
(crio_release/build/files and specs), so a build from the embedded spec needs
nothing else from the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crio.errors import CrioError, ExitCode
from crio.revision import Revision, parse_revision
from crio.version import git_output

#: Where, below the repository's top directory, the nix expressions and the bash installer live.
NIX_SUBDIR = "nix"
GET_SCRIPT = "scripts/get"
#: The package whose tree state crio-status reports (the zipapp is built from it).
STAMPED_PACKAGE = "crio"


@dataclass(frozen=True)
class ReleaseRepository:
    """`path` as given (default: the current directory); `top` its git top directory, None outside git."""

    path: Path
    top: Path | None

    @classmethod
    def at(cls, path: Path | None = None) -> ReleaseRepository:
        where = Path(path) if path is not None else Path.cwd()
        top = git_output(["rev-parse", "--show-toplevel"], where) if where.is_dir() else None
        return cls(where, Path(top) if top else None)

    @property
    def tree(self) -> Path:
        """The top of the project's files: the git top directory, or `path` for an export without git."""
        return self.top or self.path

    @property
    def nix_dir(self) -> Path:
        return self.tree / NIX_SUBDIR

    @property
    def get_script(self) -> Path:
        return self.tree / GET_SCRIPT

    def commit_date(self, revision: Revision) -> int:
        """Seconds since 1970 of `revision`'s commit; a one-line USAGE error saying how to do without."""
        why = "it is not a git repository" if self.top is None else "git does not know that revision"
        stamp = None if self.top is None else git_output(
            ["show", "-s", "--format=%ct", f"{revision}^{{commit}}"], self.top)
        if stamp is None or not stamp.isdigit():
            raise CrioError(
                f"cannot find the commit date of {revision} in {self.path} ({why}); pass --repo PATH of a "
                f"clone that has it, or pass --source-date-epoch N or set SOURCE_DATE_EPOCH",
                ExitCode.USAGE,
            )
        return int(stamp)

    def tree_state(self) -> str:
        """clean/dirty of the repository's crio/ (the package crio-status is built from); unknown without git."""
        if self.top is None:
            return "unknown"
        status = git_output(["status", "--porcelain", "--untracked-files=no", "--", STAMPED_PACKAGE], self.top)
        if status is None:
            return "unknown"
        return "dirty" if status else "clean"

    def head(self) -> tuple[Revision, str | None, bool]:
        """HEAD's commit, its branch name (None when detached), and whether tracked files changed."""
        if self.top is None:
            raise CrioError(f"{self.path} is not a git repository; run inside a clone of the project or pass "
                            "--repo PATH", ExitCode.GIT)
        sha = git_output(["rev-parse", "HEAD"], self.top)
        branch = git_output(["rev-parse", "--abbrev-ref", "HEAD"], self.top)
        status = git_output(["status", "--porcelain", "--untracked-files=no"], self.top)
        if sha is None or branch is None or status is None:
            raise CrioError(f"git cannot read HEAD of {self.top} (a repository without commits?)", ExitCode.GIT)
        return parse_revision(sha), None if branch == "HEAD" else branch, bool(status)
