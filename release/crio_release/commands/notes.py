"""`crio-release notes [--from REV] --to REV` and `notes publish`: thin commands over crio_release.gitrel.notes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crio.arch import ARCHITECTURES
from crio.artifacts import DEFAULT_BUCKET, public_base_url
from crio.errors import CrioError, ExitCode
from crio_release.commands.options import (
    GIT_DRY_RUN_HELP,
    add_help,
    arch_option,
    dry_run_option,
    json_option,
    options,
    repo_option,
)
from crio_release.gitrel.notes import ReleaseNotes, build_notes
from crio_release.gitrel.pages import publish_notes
from crio_release.gitrel.repo import open_repo

RANGE_HELP = """
\b
Without --from, the previous tag is found among the version tags that are
ancestors of --to, by semantic version: a release vX.Y.Z follows the
highest lower release of X.Y; vX.Y.0 follows the highest release of an
older minor that is an ancestor (not a later patch of another branch); a
pre-release follows the highest lower tag of any kind.
"""


def notes_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return options(
        repo_option(),
        click.option("--from", "from_rev", default=None, help="Start of the range (default: the previous tag)."),
        click.option("--to", "to_rev", default=None, help="Tag or commit the notes are for."),
        click.option("--bucket", default=DEFAULT_BUCKET, show_default=True,
                     help="Bucket NAME whose public URLs the download links use."),
        click.option("--base-url", default=None, help="Base URL of the downloads instead of --bucket's."),
        arch_option(ARCHITECTURES, help="Architectures to link"),
    )(fn)


def make_notes(repo_path: Path | None, from_rev: str | None, to_rev: str | None, bucket: str,
               base_url: str | None, archs: tuple[str, ...]) -> tuple[Any, ReleaseNotes]:
    if not to_rev:
        raise CrioError("missing --to REV: the tag or commit the notes are for, such as v1.22.1", ExitCode.USAGE)
    repo = open_repo(repo_path)
    base = base_url.rstrip("/") if base_url else public_base_url(bucket)
    return repo, build_notes(repo, to_rev, from_rev, base_url=base, archs=archs or ARCHITECTURES)


@click.group("notes", invoke_without_command=True)
@notes_options
@json_option("Print JSON instead of Markdown.")
@click.pass_context
def notes_group(ctx: click.Context, as_json: bool, **opts: Any) -> None:
    """Release notes for --from..--to: release-note blocks of merge and squash commits, by kind.

    \b
    Examples:
      crio-release notes --to v1.22.1
      crio-release notes --from v1.22.0 --to v1.22.1 --json
      crio-release notes publish --to v1.22.1 --push
    """
    if ctx.invoked_subcommand is not None:
        return
    _repo, notes = make_notes(**opts)
    click.echo(notes.as_json() if as_json else notes.as_markdown(), nl=False)


add_help(notes_group, RANGE_HELP)


@notes_group.command("generate")
@notes_options
@json_option("Print JSON instead of Markdown.")
def generate_command(as_json: bool, **opts: Any) -> None:
    """The same as `notes --from ... --to ...`: print the release notes."""
    _repo, notes = make_notes(**opts)
    click.echo(notes.as_json() if as_json else notes.as_markdown(), nl=False)


add_help(generate_command, RANGE_HELP)


@notes_group.command("publish")
@notes_options
@click.option("--branch", default="gh-pages", show_default=True, help="Branch that holds the pages.")
@click.option("--remote", default="origin", show_default=True)
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Times to rebuild and push again when a concurrent push wins.")
@dry_run_option(GIT_DRY_RUN_HELP)
@click.option("--push", is_flag=True, help="Push the branch (default: commit locally only).")
def publish_command(branch: str, remote: str, retries: int, dry_run: bool, push: bool, **opts: Any) -> None:
    """Commit the notes page releases/REV.md and index.md to --branch, without checking it out.

    With --push, a push rejected because someone else pushed first is retried
    after fetching and rebuilding the commit on top of theirs.
    """
    repo, notes = make_notes(**opts)
    commit = publish_notes(repo, notes, branch=branch, remote=remote, push=push, dry_run=dry_run,
                           retries=retries, echo=click.echo)
    if not dry_run:
        where = f"and pushed to {remote}" if push else "locally (not pushed)"
        click.echo(f"committed the notes of {notes.revision} to {branch} at {commit[:12]} {where}", err=True)
