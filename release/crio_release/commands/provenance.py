"""`crio-release provenance`: thin click wrapper over crio_release.build.provenance.write_provenance."""

from __future__ import annotations

from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP
from crio.revision import parse_revision


@click.command("provenance", epilog=f"""\b
Examples:
  crio-release provenance --rev $GITHUB_SHA --spec production.toml dist     # in GitHub Actions
  crio-release provenance --rev v1.36.2 --source-repo https://github.com/ME/cri-o \\
    --source-commit 0123...cdef dist

\b
Writes cri-o.REV.provenance.json: an in-toto Statement v1 with an SLSA
Provenance v1 predicate whose subjects are every tarball, .sha256sum and
.spdx of the revision. Run it after `bundle` and before `sign`, which signs it.
{EXIT_CODES_HELP}""")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rev", "rev", required=True, help="Revision the directory holds: a full commit SHA or vX.Y.Z.")
@click.option("--spec", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Components spec the bundles were built from (default: the embedded spec).")
@click.option("--source-repo", default=None, help="Repository URL of the released source "
              "(default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY).")
@click.option("--source-commit", default=None, help="Commit of the released source (default: the revision "
              "when it is a commit, else $GITHUB_SHA).")
@click.option("--builder-id", default=None, help="Builder id (default: $GITHUB_SERVER_URL/$GITHUB_WORKFLOW_REF).")
def provenance_command(directory: Path, rev: str, spec: Path | None, source_repo: str | None,
                       source_commit: str | None, builder_id: str | None) -> None:
    """Write the signed-to-be SLSA provenance of the revision in DIRECTORY."""
    from crio_release.build.provenance import RunFacts, write_provenance

    revision = parse_revision(rev)
    facts = RunFacts.from_environment(revision, source_repo, source_commit, builder_id)
    click.echo(f"wrote {write_provenance(directory, revision, facts, spec)}")
