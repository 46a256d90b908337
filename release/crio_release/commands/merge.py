"""`crio-release merge`: thin click wrapper over crio_release.build.merge.merge_builds."""

from __future__ import annotations

from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP
from crio.revision import parse_revision


@click.command("merge", epilog=f"""\b
Examples:
  crio-release merge --rev $GITHUB_SHA --out dist build-amd64 build-arm64

\b
Each INPUT is one `crio-release bundle --arch X` output (e.g. a CI runner's
uploaded artifact); every file is checked against its own manifest first.
{EXIT_CODES_HELP}""")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rev", "rev", required=True, help="Revision the inputs hold: a full commit SHA or vX.Y.Z.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the merged set into.")
def merge_command(inputs: tuple[Path, ...], rev: str, out: Path) -> None:
    """Merge per-architecture bundle outputs INPUT... into one revision directory with one manifest."""
    from crio_release.build.merge import merge_builds

    click.echo(f"wrote {merge_builds(list(inputs), out, parse_revision(rev))}")
