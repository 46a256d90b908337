"""`crio-release branch cut | forward | patch | tag`: thin click commands over crio_release.gitrel.branching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crio_release.commands.options import GIT_DRY_RUN_HELP, add_help, dry_run_option, options, repo_option
from crio_release.gitrel.branching import ReleaseContext, cut_branch, forward, prepare_patch, tag_release
from crio_release.gitrel.repo import open_repo

COMMON_HELP = """
\b
Nothing is pushed without --push: by default every change is local, for you
to inspect and push yourself. --dry-run prints the exact git commands
(values made by earlier commands shown as $name) and changes nothing.
"""


def repo_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--repo, --remote, --version-file, --main, --dry-run, --push: shared by every writing git command."""
    return options(
        repo_option(),
        click.option("--remote", default="origin", show_default=True, help="Remote to push to."),
        click.option("--main", "main_branch", default="main", show_default=True, help="The development branch."),
        click.option("--version-file", default=None,
                     help="Override the configured version sources with one file: a .go file holding "
                          "`const Version = \"X.Y.Z\"`, else one line MAJOR.MINOR.PATCH (default: "
                          ".crio-release.toml or [tool.crio-release] in pyproject.toml, else "
                          "internal/version/version.go when present, else crio/VERSION)."),
        dry_run_option(GIT_DRY_RUN_HELP),
        click.option("--push", is_flag=True, help="Push the changed refs to --remote (atomically)."),
    )(fn)


def make_context(repo_path: Path | None, remote: str, main_branch: str, version_file: str | None, dry_run: bool,
                 push: bool) -> ReleaseContext:
    return ReleaseContext(open_repo(repo_path), remote=remote, main=main_branch, version_file=version_file,
                          dry_run=dry_run, push=push, echo=click.echo)


@click.group("branch")
def branch_group() -> None:
    """Release branches."""


@branch_group.command("cut")
@click.argument("series")
@click.option("--from", "source", default=None, help="Commit or ref to branch from (default: --main).")
@repo_options
def cut_command(series: str, source: str | None, **opts: Any) -> None:
    """Create release-SERIES (e.g. release-1.22) from main when Kubernetes SERIES ships.

    Refuses when the branch exists, the work tree is dirty, the version file at
    the source does not say SERIES.0, or SERIES is not the next minor after the
    newest release branch (local or on --remote).
    """
    ctx = make_context(**opts)
    branch = cut_branch(ctx, series, source)
    click.echo(f"{'would create' if ctx.dry_run else 'created'} {branch}", err=True)


add_help(cut_command, COMMON_HELP)


@click.command("forward")
@repo_options
def forward_command(**opts: Any) -> None:
    """Fast-forward the newest release branch to main until the first tag of its minor.

    A no-op once any tag of X.Y exists, a release candidate included (it says
    which tag). Never rewrites history: when the release branch has commits
    main lacks, refuses and lists them.
    """
    ctx = make_context(**opts)
    result = forward(ctx)
    verb = "would move" if ctx.dry_run else "moved"
    msg = f"{verb} {result.branch} to {result.new[:12]}" if result.moved else f"{result.branch}: {result.reason}"
    click.echo(msg, err=True)


add_help(forward_command, COMMON_HELP)


@click.command("patch")
@click.argument("series")
@click.option("--force", is_flag=True, help="Bump even when nothing changed since the last tag.")
@repo_options
def patch_command(series: str, force: bool, **opts: Any) -> None:
    """Prepare the next patch of SERIES: bump the version file on release-SERIES to X.Y.(Z+1).

    Needs vX.Y.Z tagged; refuses when release-SERIES has no commit since that
    tag unless --force. Then run `tag vX.Y.(Z+1)`.
    """
    ctx = make_context(**opts)
    new = prepare_patch(ctx, series, force)
    click.echo(f"{'would bump' if ctx.dry_run else 'bumped'} release-{new.minor_series} to {new}", err=True)


add_help(patch_command, COMMON_HELP)


@click.command("tag")
@click.argument("tag")
@click.option("--commit", default=None, help="Commit of release-X.Y to tag (default: the branch head).")
@repo_options
def tag_command(tag: str, commit: str | None, **opts: Any) -> None:
    """Create the annotated tag TAG (vX.Y.Z) on release-X.Y.

    The version file at the commit must say X.Y.Z. Refuses an existing tag, a
    skipped patch number, or a commit not on release-X.Y. Signs (git tag -s)
    when your git config sets tag.gpgSign.

    Tagging vX.Y.0 also moves main to X.(Y+1).0 in one commit (when main's
    version file still says X.Y.0), so forward stops and main develops the
    next minor. Pre-release tags (vX.Y.0-rc.N) never move main.
    """
    ctx = make_context(**opts)
    result = tag_release(ctx, tag, commit)
    verb = "would tag" if ctx.dry_run else "tagged"
    extra = f"; main moves to {result.main_version}" if result.main_version else ""
    click.echo(f"{verb} {result.tag} at {result.commit[:12]}{' (signed)' if result.signed else ''}{extra}",
               err=True)


add_help(tag_command, COMMON_HELP)
