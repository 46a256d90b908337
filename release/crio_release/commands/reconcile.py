"""`crio-release reconcile --bucket URL [--apply]`: every version tag's set in the bucket, rebuilt when missing."""

from __future__ import annotations

from pathlib import Path

import click

from crio.errors import CrioError, ExitCode
from crio.revision import Version
from crio_release.commands.options import (
    arch_option,
    bucket_option,
    dry_run_option,
    key_option,
    options,
    repo_option,
)
from crio_release.gitrel.repo import open_repo
from crio_release.workflows.reconcile import TagState, reconcile


@click.command("reconcile")
@options(
    bucket_option(),
    repo_option("Git repository whose version tags are checked (default: the current directory)."),
    arch_option(help="Architectures every tag must have"),
    click.option("--apply", is_flag=True, help="Rebuild and publish each incomplete tag."),
    dry_run_option("With --apply: say what would be rebuilt; build and write nothing."),
    click.option("--spec", default=None,
                 help="Bundle spec path inside the tag's tree (default: the embedded spec, which needs no network)."),
    key_option("private", "PEM private key: sign rebuilt sets like `crio-release sign` (default: publish them "
                          "unsigned)."),
    click.option("--since", default=None,
                 help="Only tags at or above this version, e.g. v1.30.0 (tags older than the pipeline have no set)."),
)
def reconcile_command(bucket_url: str, repo_path: Path | None, archs: tuple[str, ...], apply: bool, dry_run: bool,
                      spec: str | None, since: str | None, key_path: Path | None) -> None:
    """Check that the bucket holds the full set of every vX.Y.Z tag; list what is missing.

    Without --apply nothing is written and the exit code is 32 (incomplete-set)
    when any tag is incomplete. With --apply each incomplete tag is built from
    a detached git worktree of the tag (its commit date as SOURCE_DATE_EPOCH)
    and published; files already in the bucket with the same bytes are kept.

    \b
    Examples:
      crio-release reconcile --bucket gs://cri-o
      crio-release reconcile --bucket gs://cri-o --apply
    """
    from crio_release.publish.sign import load_signing_key

    key_pem = load_signing_key(key_path) if key_path else None   # a bad --key fails before anything is read
    statuses = reconcile(open_repo(repo_path), bucket_url, archs=list(archs), apply=apply,
                         dry_run=dry_run, spec=spec, echo=click.echo,
                         since=Version.parse(since) if since else None, key_pem=key_pem)
    for status in statuses:
        click.echo(status.line())
    incomplete = [s.tag for s in statuses if s.state in (TagState.MISSING, TagState.WOULD_REBUILD)]
    if incomplete:
        raise CrioError(f"{len(incomplete)} tag(s) incomplete in {bucket_url}: {', '.join(incomplete)}"
                        + ("" if apply else "; run with --apply to rebuild and publish them"),
                        ExitCode.INCOMPLETE_SET)
