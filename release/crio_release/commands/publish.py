"""`crio-release publish | verify | markers`: thin click commands over publish.py, verify.py and markers.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy
from crio.revision import Revision
from crio_release.commands.keyless_flags import keyless_options
from crio_release.commands.options import (
    arch_option,
    bucket_option,
    dry_run_option,
    json_option,
    key_option,
    options,
    repo_option,
    rev_option,
)

_ARCH_HELP = "Architecture to publish/check"


def _branch(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "main":
        return value
    series = value.removeprefix("release-")
    major, _, minor = series.partition(".")
    if value.startswith("release-") and major.isdigit() and minor.isdigit():
        return value
    raise click.BadParameter(f"{value!r}: use main or release-MAJOR.MINOR such as release-1.22")


@click.command("publish")
@options(
    bucket_option(),
    rev_option(),
    click.option("--branch", callback=_branch, default=None,
                 help="Branch the commit is on (main or release-1.Y): which marker a commit moves."),
    repo_option("Git clone used to order commits (a commit marker only moves to a descendant); "
                "without it, a commit marker that needs ordering is refused."),
    arch_option(help=_ARCH_HELP),
    dry_run_option("Print each planned upload and marker move; write nothing."),
)
@click.argument("directory", type=click.Path(path_type=Path))
def publish_command(bucket_url: str, revision: Revision, branch: str | None, repo_path: Path | None,
                    archs: tuple[str, ...], dry_run: bool, directory: Path) -> None:
    """Upload every artifact of REV from DIRECTORY, then move its markers forward.

    \b
    Artifacts are create-only: the same bytes again are skipped, other bytes are refused.
    Markers move only after every object is read back and the set is complete in the bucket.
    Examples:
      crio-release publish --bucket gs://cri-o --rev v1.22.3 out/
      crio-release publish --bucket gs://cri-o --rev $SHA --branch main --repo . out/
      crio-release publish --bucket file:///srv/bucket --rev v1.22.3 --dry-run out/
    """
    from crio_release.publish.publish import publish_revision

    report = publish_revision(bucket_url, revision, directory, branch=branch, repo=repo_path, archs=list(archs),
                              dry_run=dry_run, progress=sys.stderr.isatty())
    for line in report.lines():
        click.echo(line)


@click.command("verify")
@options(bucket_option(), rev_option(), key_option("public"), arch_option(help=_ARCH_HELP))
@keyless_options
def verify_command(bucket_url: str, revision: Revision, key_path: Path | None, archs: tuple[str, ...],
                   keyless: IdentityPolicy | None, trusted_root: Path | None) -> None:
    """Download REV from the bucket and check it: every architecture, checksums, SBOMs, manifest, signatures.

    \b
    .sig files are checked with --key, .bundle files (keyless) with the identity flags.
    Exits 36 (verify-failed) listing each problem on its own line.
    Examples:
      crio-release verify --bucket gs://cri-o --rev v1.22.3 --key cosign.pub
      crio-release verify --bucket gs://my-bucket --rev v1.22.3 \\
        --certificate-identity https://github.com/ME/cri-o-release/.github/workflows/release.yml@refs/tags/v1.22.3 \\
        --certificate-oidc-issuer https://token.actions.githubusercontent.com
    """
    from crio_release.publish.verify import load_verify_key, verify_revision

    problems = verify_revision(bucket_url, revision, key=load_verify_key(key_path), archs=list(archs),
                               keyless=keyless, trusted_root=trusted_root)
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        raise CrioError(f"{revision} failed verification with {len(problems)} problem(s)", ExitCode.VERIFY_FAILED)
    click.echo(f"{revision}: verified")


@click.command("markers")
@options(bucket_option(), json_option("Print a JSON list instead of a table."))
def markers_command(bucket_url: str, as_json: bool) -> None:
    """Print each latest-*.txt marker, the revision it names, and whether that set is complete.

    \b
    Examples:
      crio-release markers --bucket gs://cri-o
      crio-release markers --bucket file:///srv/bucket --json
    """
    from crio_release.publish.markers import read_markers

    states = read_markers(bucket_url)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in states], indent=2))
        return
    if not states:
        click.echo("no markers")
    for state in states:
        status = "complete" if state.complete else "INCOMPLETE: " + "; ".join(state.problems)
        click.echo(f"{state.marker}\t{state.revision or '-'}\t{status}")
