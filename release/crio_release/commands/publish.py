"""`crio-release publish | verify | markers`: thin click commands over publish.py, verify.py and markers.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.cli import arch_option
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision
from crio.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV

_BUCKET_HELP = "Bucket URL: gs://BUCKET[/PREFIX] (STORAGE_EMULATOR_HOST honoured) or file:///DIR."
_ARCH_HELP = f"Architecture to publish/check; repeatable (default: {', '.join(DEFAULT_BUILD_ARCHITECTURES)})."


def _branch(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "main":
        return value
    series = value.removeprefix("release-")
    major, _, minor = series.partition(".")
    if value.startswith("release-") and major.isdigit() and minor.isdigit():
        return value
    raise click.BadParameter(f"{value!r}: use main or release-MAJOR.MINOR such as release-1.22")


@click.command("publish")
@click.option("--bucket", "bucket_url", required=True, help=_BUCKET_HELP)
@click.option("--rev", "rev", required=True, help="Revision: a full commit SHA or a tag vX.Y.Z.")
@click.option("--branch", callback=_branch, default=None,
              help="Branch the commit is on (main or release-1.Y): which marker a commit moves.")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Git clone used to order commits (a commit marker only moves to a descendant).")
@arch_option("--arch", "archs", multiple=True, help=_ARCH_HELP)
@click.option("--dry-run", is_flag=True, help="Print each planned upload and marker move; write nothing.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM private key that signed the set: signs the markers moved (default: $CRIO_SIGNING_KEY; "
                   "required for a signed set).")
@click.argument("directory", type=click.Path(path_type=Path))
def publish_command(bucket_url: str, rev: str, branch: str | None, repo: Path | None, archs: tuple[str, ...],
                    dry_run: bool, key_path: Path | None, directory: Path) -> None:
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
    from crio_release.publish.sign import load_signing_key

    key = load_signing_key(key_path) if key_path or os.environ.get(SIGNING_KEY_ENV) else None
    report = publish_revision(bucket_url, parse_revision(rev), directory, branch=branch, repo=repo,
                              archs=list(archs) or None, dry_run=dry_run, progress=sys.stderr.isatty(),
                              signing_key=key)
    for line in report.lines():
        click.echo(line)


def _read_key(key_path: Path | None) -> bytes | None:
    path = key_path or (Path(os.environ[VERIFY_KEY_ENV]) if os.environ.get(VERIFY_KEY_ENV) else None)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CrioError(f"cannot read verification key {path}: {exc.strerror}", ExitCode.USAGE) from None


@click.command("verify")
@click.option("--bucket", "bucket_url", required=True, help=_BUCKET_HELP)
@click.option("--rev", "rev", required=True, help="Revision: a full commit SHA or a tag vX.Y.Z.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"PEM public key to check signatures with (default: ${VERIFY_KEY_ENV}).")
@arch_option("--arch", "archs", multiple=True, help=_ARCH_HELP)
def verify_command(bucket_url: str, rev: str, key_path: Path | None, archs: tuple[str, ...]) -> None:
    """Download REV from the bucket and check it: every architecture, checksums, SBOMs, manifest, signatures.

    \b
    Exits 36 (verify-failed) listing each problem on its own line.
    Examples:
      crio-release verify --bucket gs://cri-o --rev v1.22.3 --key cosign.pub
    """
    from crio_release.publish.verify import verify_revision

    revision = parse_revision(rev)
    problems = verify_revision(bucket_url, revision, key=_read_key(key_path), archs=list(archs) or None)
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        raise CrioError(f"{revision} failed verification with {len(problems)} problem(s)", ExitCode.VERIFY_FAILED)
    click.echo(f"{revision}: verified")


@click.command("markers")
@click.option("--bucket", "bucket_url", required=True, help=_BUCKET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
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
