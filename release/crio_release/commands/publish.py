"""`crio-release publish | verify | markers`: thin click commands over publish.py, verify.py and markers.py."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy
from crio.revision import Revision
from crio.signing import SIGNING_KEY_ENV
from crio_release.commands.keyless_flags import keyless_options
from crio_release.commands.options import (
    arch_option,
    bucket_option,
    dry_run_option,
    json_option,
    key_option,
    normalize_archs,
    options,
    repo_option,
    rev_option,
)

if TYPE_CHECKING:
    from crio_release.publish.manifest_resign import ManifestSigners

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
    arch_option(help="Architecture DIRECTORY holds (one runner's: --arch amd64)"),
    click.option("--expect-arch", "expect_archs", multiple=True, callback=normalize_archs,
                 help="Architecture the revision is complete with (repeatable; default: "
                      f"{', '.join(DEFAULT_BUILD_ARCHITECTURES)}, plus every --arch). Give every runner the same set."),
    key_option("private", help="PEM private key that signed the set: signs the markers moved (required for a "
                               "signed set) and, for a per-runner set, the merged manifest (default: the file "
                               f"named by ${SIGNING_KEY_ENV})."),
    dry_run_option("Print each planned upload and marker move; write nothing."),
)
@click.option("--keyless", is_flag=True,
              help="Sign a merged manifest with the ambient CI identity (a signed per-runner set with .bundle files).")
@click.option("--trust-config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --keyless: ClientTrustConfig JSON of another Sigstore instance (default: public-good).")
@click.argument("directory", type=click.Path(path_type=Path))
def publish_command(bucket_url: str, revision: Revision, branch: str | None, repo_path: Path | None,
                    archs: tuple[str, ...], expect_archs: tuple[str, ...], key_path: Path | None, dry_run: bool,
                    keyless: bool, trust_config: Path | None, directory: Path) -> None:
    """Upload every artifact of REV from DIRECTORY, then move its markers forward.

    \b
    Artifacts are create-only: the same bytes again are skipped, other bytes are refused.
    The revision manifest is merged into the bucket's by compare-and-swap, so one runner per
    architecture may publish its part (--arch X), in any order or at once. Markers move only
    after every object is read back and the set is complete in the bucket for the configured
    architectures (--expect-arch), by whichever publish completes it, exactly once.
    Examples:
      crio-release publish --bucket gs://cri-o --rev v1.22.3 out/
      crio-release publish --bucket gs://cri-o --rev $SHA --branch main --repo . out/
      crio-release publish --bucket gs://cri-o --rev v1.22.3 --arch arm64 out-arm64/   # one runner's part
      crio-release publish --bucket file:///srv/bucket --rev v1.22.3 --dry-run out/
    """
    from crio_release.publish.publish import publish_revision

    with contextlib.ExitStack() as stack:
        signers = _signers(stack, key_path, keyless, trust_config)
        report = publish_revision(bucket_url, revision, directory, branch=branch, repo=repo_path, archs=list(archs),
                                  dry_run=dry_run, progress=sys.stderr.isatty(), expect_archs=list(expect_archs),
                                  signers=signers, signing_key=signers.key)
    for line in report.lines():
        click.echo(line)


def _signers(stack: contextlib.ExitStack, key_path: Path | None, keyless: bool,
             trust_config: Path | None) -> ManifestSigners:
    """The key (read now, if given or named by the environment) and a keyless signer opened on first use."""
    from crio_release.publish.manifest_resign import ManifestSigners
    from crio_release.publish.sign import load_signing_key

    if keyless and key_path is not None:
        raise click.UsageError("--keyless and --key exclude each other")
    key = load_signing_key(key_path) if key_path or (os.environ.get(SIGNING_KEY_ENV) and not keyless) else None
    if not keyless:
        return ManifestSigners(key=key)
    opened: list[Callable[[Path], bytes]] = []

    def sign(path: Path) -> bytes:
        if not opened:  # the OIDC credential is only asked for when this publish completes the set
            from crio_release.publish.keyless import ambient_signer

            opened.append(stack.enter_context(ambient_signer(trust_config)))
        return opened[0](path)

    return ManifestSigners(keyless=sign)


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
