"""The release-branch lifecycle: cut release-1.Y, forward it from main, prepare and tag patch releases.

Each function checks every precondition first (read-only), then runs its
plan through a GitRunner, so a refusal leaves nothing half-done and a dry run
prints the exact git commands. Pushing is a separate, explicit step (`push`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import git

from crio.artifacts import parse_release_branch, release_branch
from crio.errors import CrioError, ExitCode
from crio.revision import Version, parse_minor_series
from crio_release.gitrel.repo import (
    GitRunner,
    checked_out_branch,
    commits_between,
    config_bool,
    is_ancestor,
    is_dirty,
    local_branch_sha,
    refused,
    remote_branch_sha,
    rev_sha,
    tag_sha,
    version_tags,
)
from crio_release.gitrel.versionsource import VersionConfig, bumped_files, load_config, read_version


@dataclass
class ReleaseContext:
    """Where and how a release command operates."""

    repo: git.Repo
    remote: str = "origin"
    main: str = "main"
    version_file: str | None = None
    dry_run: bool = False
    push: bool = False
    echo: Callable[[str], None] = print
    runner: GitRunner = field(init=False)

    def __post_init__(self) -> None:
        self.runner = GitRunner(self.repo, self.dry_run, self.echo)

    def versions(self, sha: str) -> VersionConfig:
        """The version sources at SHA: --version-file, else the repository's configuration, else detected."""
        return load_config(self.repo, sha, self.version_file)

    def version_at(self, sha: str, label: str) -> tuple[Version, str]:
        """(version, the sources' paths for messages) at SHA."""
        config = self.versions(sha)
        return read_version(self.repo, sha, config, label), config.label

    def commit_version(self, branch: str, parent: str, version: Version, message: str) -> str:
        """One commit on BRANCH rewriting every version source to VERSION."""
        files, modes = bumped_files(self.repo, parent, self.versions(parent), version)
        return self.runner.commit_files(branch, parent, files, message, modes)

    def push_refs(self, refs: list[str]) -> None:
        """Push full ref names atomically to the remote, only when asked (`--push`)."""
        if not self.push:
            self.runner.note(f"not pushed (local only); pass --push to run: git push --atomic {self.remote} "
                             + " ".join(refs))
            return
        if self.remote not in [r.name for r in self.repo.remotes]:
            raise CrioError(f"no remote {self.remote!r} in {self.repo.working_dir}; pass --remote NAME",
                            ExitCode.GIT)
        self.runner.run(["push", "--atomic", self.remote, *refs])


def parse_series(text: str) -> tuple[int, int]:
    series = parse_minor_series(text)
    if series is None:
        raise CrioError(f"invalid minor series {text!r}: expected MAJOR.MINOR such as 1.22", ExitCode.USAGE)
    return series


def release_branches(ctx: ReleaseContext) -> dict[tuple[int, int], str]:
    """Every `release-X.Y` branch, local or on the remote's tracking refs: (X, Y) -> name."""
    names = [h.name for h in ctx.repo.heads]
    prefix = f"{ctx.remote}/"
    names += [r.name[len(prefix):] for r in ctx.repo.refs if isinstance(r, git.RemoteReference)
              and r.name.startswith(prefix)]
    out: dict[tuple[int, int], str] = {}
    for name in names:
        series = parse_release_branch(name)
        if series is not None:
            out[series] = name
    return out


def _require_branch(ctx: ReleaseContext, branch: str) -> str:
    sha = local_branch_sha(ctx.repo, branch)
    if sha is None:
        hint = (f" (it exists on {ctx.remote}: create it with `git branch {branch} {ctx.remote}/{branch}`)"
                if remote_branch_sha(ctx.repo, ctx.remote, branch) else "")
        raise refused(f"branch {branch} does not exist in {ctx.repo.working_dir}{hint}")
    return sha


def _require_clean_if_checked_out(ctx: ReleaseContext, branch: str) -> None:
    if checked_out_branch(ctx.repo) == branch and is_dirty(ctx.repo):
        raise refused(f"the work tree has uncommitted changes on {branch}; commit or stash them first")


# branch cut --------------------------------------------------------------------


def cut_branch(ctx: ReleaseContext, series_text: str, source: str | None = None) -> str:
    """Create release-1.Y from main (or SOURCE) when main's version file says 1.Y.0; return the branch."""
    major, minor = parse_series(series_text)
    branch = release_branch(f"{major}.{minor}")
    if is_dirty(ctx.repo):
        raise refused("the work tree has uncommitted changes; commit or stash them before cutting a branch")
    if local_branch_sha(ctx.repo, branch) or remote_branch_sha(ctx.repo, ctx.remote, branch):
        raise refused(f"branch {branch} already exists")
    existing = release_branches(ctx)
    if existing:
        newest = max(existing)
        allowed = [(newest[0], newest[1] + 1), (newest[0] + 1, 0)]
        if (major, minor) not in allowed:
            raise refused(f"{major}.{minor} is not the next minor after the newest release branch "
                          f"{existing[newest]}; expected {allowed[0][0]}.{allowed[0][1]} "
                          f"(or {allowed[1][0]}.0 for a new major)")
    ref = source or ctx.main
    sha = rev_sha(ctx.repo, ref)
    found, where = ctx.version_at(sha, ref)
    wanted = Version(major, minor, 0)
    if found != wanted:
        raise refused(f"{where} at {ref} says {found}, but cutting {branch} needs {wanted}")
    ctx.runner.run(["branch", branch, sha])
    ctx.push_refs([f"refs/heads/{branch}"])
    return branch


# forward -------------------------------------------------------------------


@dataclass(frozen=True)
class ForwardResult:
    branch: str
    old: str
    new: str
    reason: str

    @property
    def moved(self) -> bool:
        return self.old != self.new


def newest_local_release_branch(ctx: ReleaseContext) -> tuple[tuple[int, int], str]:
    """The newest release branch, which must exist locally: forwarding an older one would be wrong."""
    every = release_branches(ctx)
    local = {k: v for k, v in every.items() if local_branch_sha(ctx.repo, v)}
    if not local:
        raise refused("there is no local release-X.Y branch to forward; cut one with `branch cut`")
    newest = max(local)
    if max(every) > newest:
        name = every[max(every)]
        raise refused(f"the newest release branch {name} exists on {ctx.remote} but not here; create it with "
                      f"`git branch {name} {ctx.remote}/{name}` first")
    return newest, local[newest]


def first_tag_of_series(ctx: ReleaseContext, major: int, minor: int) -> str | None:
    """The lowest tag of MAJOR.MINOR, pre-releases included (v1.22.0-rc.1 before v1.22.0), or None."""
    tags = tags_of_series(ctx, major, minor, final_only=False)
    return min(tags).tag if tags else None


def forward(ctx: ReleaseContext) -> ForwardResult:
    """Fast-forward the newest release branch to main until the first tag of its minor; a no-op after.

    Any tag of 1.Y stops it, a release candidate included, as upstream's
    forwarding job does: once 1.Y is being stabilised, main's work for 1.(Y+1)
    must not leak into it.
    """
    (major, minor), branch = newest_local_release_branch(ctx)
    old = _require_branch(ctx, branch)
    tag = first_tag_of_series(ctx, major, minor)
    if tag is not None:
        ctx.runner.note(f"{tag} exists: {branch} has a tag of {major}.{minor} and is no longer forwarded "
                        f"from {ctx.main}")
        return ForwardResult(branch, old, old, f"stopped by tag {tag}")
    main_sha = _require_branch(ctx, ctx.main)
    if main_sha == old:
        ctx.runner.note(f"{branch} is already at {ctx.main} ({old[:12]})")
        return ForwardResult(branch, old, old, "up to date")
    if not is_ancestor(ctx.repo, old, main_sha):
        diverging = commits_between(ctx.repo, main_sha, old)
        listed = "; ".join(f"{c.hexsha[:12]} {c.summary}" for c in diverging[:20])
        more = f" and {len(diverging) - 20} more" if len(diverging) > 20 else ""
        raise refused(f"cannot fast-forward {branch} to {ctx.main}: {len(diverging)} commit(s) on {branch} "
                      f"are not on {ctx.main}: {listed}{more}")
    _require_clean_if_checked_out(ctx, branch)
    ctx.runner.move_branch(branch, old, main_sha)
    ctx.push_refs([f"refs/heads/{branch}"])
    return ForwardResult(branch, old, main_sha, "fast-forwarded")


# patch ---------------------------------------------------------------------


def tags_of_series(ctx: ReleaseContext, major: int, minor: int, final_only: bool = True) -> dict[Version, str]:
    return {v: sha for v, sha in version_tags(ctx.repo).items()
            if (v.major, v.minor) == (major, minor) and not (final_only and v.is_prerelease)}


def patch_message(new: Version, branch: str, last_tag: str, count: int) -> str:
    return (f"Bump version to {new} for the next patch release of {new.minor_series}\n\n"
            f"{branch} has {count} commit(s) since {last_tag}; {new.tag} will be tagged from this branch.")


def prepare_patch(ctx: ReleaseContext, series_text: str, force: bool = False) -> Version:
    """Bump the version file on release-1.Y from 1.Y.Z (tagged) to 1.Y.(Z+1) in one commit."""
    major, minor = parse_series(series_text)
    branch = release_branch(f"{major}.{minor}")
    head = _require_branch(ctx, branch)
    current, where = ctx.version_at(head, branch)
    if (current.major, current.minor) != (major, minor) or current.is_prerelease:
        raise refused(f"{where} on {branch} says {current}, expected {major}.{minor}.Z")
    if not tag_sha(ctx.repo, current.tag):
        raise refused(f"{branch} already prepares {current} ({current.tag} is not tagged yet); "
                      f"tag it with `tag {current.tag}` first")
    tagged = tag_sha(ctx.repo, current.tag)
    assert tagged is not None
    if not is_ancestor(ctx.repo, tagged, head):
        raise refused(f"{current.tag} is not on {branch}")
    since = commits_between(ctx.repo, tagged, head)
    if not since and not force:
        raise refused(f"nothing changed on {branch} since {current.tag}; pass --force to bump anyway")
    _require_clean_if_checked_out(ctx, branch)
    new = current.bump_patch()
    ctx.commit_version(branch, head, new, patch_message(new, branch, current.tag, len(since)))
    ctx.push_refs([f"refs/heads/{branch}"])
    return new


# tag -----------------------------------------------------------------------


def signing_requested(repo: git.Repo) -> bool:
    """Whether the user's git config says `tag.gpgSign` (git's own boolean parsing, not Python truthiness)."""
    return config_bool(repo, "tag.gpgSign")


def remote_has_tag(ctx: ReleaseContext, tag: str) -> bool:
    """Ask the remote (read-only `git ls-remote`) whether it has TAG, so a push never meets a stale tag."""
    if ctx.remote not in [r.name for r in ctx.repo.remotes]:
        raise CrioError(f"no remote {ctx.remote!r} in {ctx.repo.working_dir}; pass --remote NAME", ExitCode.GIT)
    try:
        out = ctx.repo.git.ls_remote("--tags", ctx.remote, f"refs/tags/{tag}")
    except git.GitCommandError as exc:
        raise CrioError(f"git ls-remote {ctx.remote} failed: {' '.join(str(exc.stderr).split())}",
                        ExitCode.GIT) from None
    return bool(out.strip())


def next_minor_message(new: Version, tag: str) -> str:
    return (f"Bump version to {new} on main after {tag}\n\n"
            f"{tag} is tagged on its release branch; main now develops {new.minor_series}.")


@dataclass(frozen=True)
class TagResult:
    tag: str
    commit: str
    signed: bool
    main_version: Version | None


def tag_release(ctx: ReleaseContext, tag_text: str, commit: str | None = None) -> TagResult:
    """Create the annotated tag vX.Y.Z on release-X.Y; for vX.Y.0 also bump main to X.(Y+1).0.

    Pre-release tags (v1.22.0-rc.1) need the file to say 1.22.0 and never bump main.
    """
    try:
        version = Version.parse(tag_text)
    except CrioError as exc:
        raise CrioError(exc.message, ExitCode.USAGE) from None
    tag = version.tag
    branch = release_branch(version)
    head = _require_branch(ctx, branch)
    if tag_sha(ctx.repo, tag) or tag in [t.name for t in ctx.repo.tags]:
        raise refused(f"tag {tag} already exists")
    if ctx.push and remote_has_tag(ctx, tag):
        raise refused(f"tag {tag} already exists on {ctx.remote} (not fetched here); run git fetch --tags")
    target = rev_sha(ctx.repo, commit) if commit else head
    if not is_ancestor(ctx.repo, target, head):
        raise refused(f"commit {target[:12]} is not on {branch}; tag a commit of {branch}")
    said, where = ctx.version_at(target, target[:12])
    core = Version(version.major, version.minor, version.patch)
    if said != core:
        raise refused(f"{where} at {target[:12]} says {said}, not {core}; "
                      f"run `patch {version.minor_series}` first")
    if not version.is_prerelease:
        finals = tags_of_series(ctx, version.major, version.minor)
        newest = max(finals) if finals else None
        if newest is not None and newest > version:
            raise refused(f"{newest.tag} already exists; {tag} would go backwards")
        expected = newest.bump_patch() if newest else Version(version.major, version.minor, 0)
        if version != expected:
            raise refused(f"{tag} skips a patch number: the next release of {version.minor_series} is "
                          f"{expected.tag}")
    main_plan: tuple[str, Version] | None = None
    if not version.is_prerelease and version.patch == 0:
        main_sha = _require_branch(ctx, ctx.main)
        on_main, main_where = ctx.version_at(main_sha, ctx.main)
        nxt = version.next_minor()
        if on_main == core:
            _require_clean_if_checked_out(ctx, ctx.main)
            main_plan = (main_sha, nxt)
        elif on_main < nxt:
            raise refused(f"{main_where} on {ctx.main} says {on_main}; expected {core} (to move to {nxt}) "
                          f"or already {nxt} or newer")
    signed = signing_requested(ctx.repo)
    refs = [f"refs/tags/{tag}"]
    if main_plan is not None:
        # main first: if tagging then fails, a re-run finds main already moved and only tags;
        # the other order would leave a tag that refuses the re-run and main never moved.
        main_sha, nxt = main_plan
        ctx.commit_version(ctx.main, main_sha, nxt, next_minor_message(nxt, tag))
        refs.append(f"refs/heads/{ctx.main}")
    ctx.runner.run(["tag", "-s" if signed else "-a", "-m", f"CRI-O {tag}", tag, target])
    ctx.push_refs(refs)
    return TagResult(tag, target, signed, main_plan[1] if main_plan else None)
