"""`crio-release notes [--from REV] --to REV` and `notes publish`: thin commands over crio_release.gitrel.notes."""

from __future__ import annotations

import os
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
    dry_run_option,
    json_option,
    normalize_archs,
    options,
    repo_option,
)
from crio_release.gitrel.downloads import MODES
from crio_release.gitrel.ghcache import default_cache_dir
from crio_release.gitrel.github import api_url_from_env
from crio_release.gitrel.notes import (
    SOURCES,
    GitHubSettings,
    NotesSource,
    ReleaseNotes,
    build_notes,
    pull_request_source,
    web_url_of,
)
from crio_release.gitrel.pages import publish_notes
from crio_release.gitrel.repo import open_repo

RANGE_HELP = """
\b
Without --from, the previous tag is found among the version tags that are
ancestors of --to, by semantic version: a release vX.Y.Z follows the
highest lower release of X.Y; vX.Y.0 follows the highest release of an
older minor that is an ancestor (not a later patch of another branch); a
pre-release follows the highest lower tag of any kind.

\b
GitHub: GITHUB_TOKEN (optional for public repositories; never printed) and
GITHUB_API_URL (default https://api.github.com). Rate limits (403/429) are
waited out with a message, up to --max-wait; 5xx answers are retried. A
rejected token (401) or a 403 that is no rate limit stops with exit 42; a
pull request or commit GitHub does not know (404) is skipped with a warning,
and when every pull request is unknown, the repository is wrong: exit 42.
Answers are cached per repository and pull request, so a second run makes
no request; --refresh refetches.
"""


def notes_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return options(
        repo_option(),
        click.option("--from", "from_rev", default=None, help="Start of the range (default: the previous tag)."),
        click.option("--to", "to_rev", default=None, help="Tag or commit the notes are for."),
        click.option("--source", type=click.Choice(SOURCES), default="auto", show_default=True,
                     help="Notes from GitHub pull requests, or from release-note blocks in commit messages "
                          "(git); auto: GitHub when --github-repo is given or --remote is a GitHub URL."),
        click.option("--github-repo", default=None, metavar="OWNER/NAME",
                     help="GitHub repository of the pull requests (default: from --remote's URL)."),
        click.option("--remote", default="origin", show_default=True,
                     help="Remote whose URL names the GitHub repository (and, for publish, to push to)."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Cache of GitHub answers (default: $CRIO_RELEASE_CACHE, else "
                          "$XDG_CACHE_HOME/crio-release or ~/.cache/crio-release)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
        click.option("--refresh", is_flag=True, help="Refetch every pull request (edited descriptions)."),
        click.option("--max-wait", type=click.FloatRange(min=0), default=900.0, show_default=True,
                     envvar="CRIO_RELEASE_GITHUB_MAX_WAIT",
                     help="Longest rate-limit wait (seconds) before giving up; env CRIO_RELEASE_GITHUB_MAX_WAIT."),
        click.option("--bucket", default=DEFAULT_BUCKET, show_default=True,
                     help="Bucket NAME whose public URLs the download links use."),
        click.option("--base-url", default=None, help="Base URL of the downloads instead of --bucket's."),
        click.option("--downloads", type=click.Choice(MODES), default="auto", show_default=True,
                     help="Download links from the revision's published manifest (auto: when published), "
                          "or from the bucket contract without reading the bucket."),
        click.option("--arch", "archs", multiple=True, callback=normalize_archs,
                     help="Architectures to link (repeatable; default: what the manifest lists, else "
                          f"{', '.join(ARCHITECTURES)})."),
    )(fn)


def _warn(message: str) -> None:
    click.echo(message, err=True)


def make_notes(repo_path: Path | None, from_rev: str | None, to_rev: str | None, source: str,
               github_repo: str | None, remote: str, cache_dir: Path | None, no_cache: bool, refresh: bool,
               max_wait: float, bucket: str, base_url: str | None, downloads: str,
               archs: tuple[str, ...]) -> tuple[Any, ReleaseNotes]:
    if not to_rev:
        raise CrioError("missing --to REV: the tag or commit the notes are for, such as v1.22.1", ExitCode.USAGE)
    repo = open_repo(repo_path)
    base = base_url.rstrip("/") if base_url else public_base_url(bucket)
    api_url = api_url_from_env() if source != "git" else ""
    settings = GitHubSettings(github_repo, remote, api_url, os.environ.get("GITHUB_TOKEN") or None,
                              None if no_cache else (cache_dir or default_cache_dir()), refresh, max_wait)
    prs = pull_request_source(repo, source, settings, _warn)
    where = NotesSource(base, archs or None, downloads, prs, web_url_of(prs.repository) if prs else None, _warn)
    return repo, build_notes(repo, to_rev, from_rev, where)


@click.group("notes", invoke_without_command=True)
@notes_options
@json_option("Print JSON instead of Markdown.")
@click.pass_context
def notes_group(ctx: click.Context, as_json: bool, **opts: Any) -> None:
    """Release notes for --from..--to, from GitHub pull requests (or commit messages), as upstream's pages.

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
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Times to rebuild and push again when a concurrent push wins.")
@dry_run_option(GIT_DRY_RUN_HELP)
@click.option("--push", is_flag=True, help="Push the branch (default: commit locally only).")
def publish_command(branch: str, retries: int, dry_run: bool, push: bool, **opts: Any) -> None:
    """Commit the notes page of --to to --branch, in the layout the branch has, without checking it out.

    \b
    Upstream's layout (cri-o/cri-o gh-pages; also for a new branch): the page
    vX.Y.Z.md at the root, and README.md, the site's home, listing it as
    `- [vX.Y.Z](vX.Y.Z.md)` under "## Release Notes", newest first; no
    index.md is created. A branch with index.md and releases/ (no README.md)
    keeps that layout. Publishing the same content again commits nothing.

    With --push, a push rejected because someone else pushed first is retried
    after fetching and rebuilding the commit on top of theirs.
    """
    remote = opts["remote"]
    repo, notes = make_notes(**opts)
    commit = publish_notes(repo, notes, branch=branch, remote=remote, push=push, dry_run=dry_run,
                           retries=retries, echo=click.echo)
    if dry_run:
        return
    if commit is None:
        click.echo(f"{branch} already holds the notes of {notes.revision}: nothing committed", err=True)
        return
    where = f"and pushed to {remote}" if push else "locally (not pushed)"
    click.echo(f"committed the notes of {notes.revision} to {branch} at {commit[:12]} {where}", err=True)
