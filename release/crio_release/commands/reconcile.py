"""`crio-release reconcile --bucket URL [--apply]`: every version tag's set in the bucket, rebuilt when missing."""

from __future__ import annotations

from pathlib import Path

import click

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.cli import arch_option
from crio.errors import CrioError, ExitCode
from crio.revision import Version
from crio_release.gitrel.repo import open_repo
from crio_release.workflows.reconcile import reconcile


@click.command("reconcile")
@click.option("--bucket", "bucket_url", required=True,
              help="Bucket URL: gs://BUCKET[/PREFIX] or file:///DIR.")
@click.option("--repo", "repo_path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Git repository whose version tags are checked (default: current directory).")
@arch_option("--arch", "archs", multiple=True,
             help=f"Architectures every tag must have (repeatable; default: {', '.join(DEFAULT_BUILD_ARCHITECTURES)}).")
@click.option("--apply", is_flag=True, help="Rebuild and publish each incomplete tag.")
@click.option("--dry-run", is_flag=True, help="With --apply: say what would be rebuilt; build and write nothing.")
@click.option("--spec", default=None,
              help="Bundle spec path inside the tag's tree (default: the embedded spec, which needs no network).")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="PEM private key: sign rebuilt sets like `crio-release sign` (default: publish them unsigned).")
@click.option("--since", default=None,
              help="Only tags at or above this version, e.g. v1.30.0 (tags older than the pipeline have no set).")
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
    statuses = reconcile(open_repo(repo_path), bucket_url, archs=list(archs) or None, apply=apply,
                         dry_run=dry_run, spec=spec, echo=click.echo,
                         since=Version.parse(since) if since else None,
                         key_pem=key_path.read_bytes() if key_path else None)
    for status in statuses:
        click.echo(status.line())
    incomplete = [s.tag for s in statuses if s.state in ("missing", "would-rebuild")]
    if incomplete:
        raise CrioError(f"{len(incomplete)} tag(s) incomplete in {bucket_url}: {', '.join(incomplete)}"
                        + ("" if apply else "; run with --apply to rebuild and publish them"),
                        ExitCode.INCOMPLETE_SET)
