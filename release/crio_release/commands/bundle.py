"""`crio-release bundle`: thin click wrapper over crio_release.build.bundle.build_bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP, arch_option
from crio.revision import parse_revision


@click.command("bundle", epilog=f"""\b
Examples:
  crio-release bundle --rev v1.38.0 --out dist
  crio-release bundle --arch amd64 --arch arm64 --rev $GITHUB_SHA --spec production.toml --out dist --json

\b
--rev is required: the bundle's name and stamped commit come from it, and so
does the entries' mtime (its commit date) unless --source-date-epoch or
SOURCE_DATE_EPOCH says otherwise.
{EXIT_CODES_HELP}""")
@arch_option("--arch", "archs", multiple=True, default=("amd64", "arm64"), show_default=True,
             help="Architecture to build (repeatable).")
@click.option("--rev", "rev", required=True, help="Revision: a full commit SHA or a tag vX.Y.Z.")
@click.option("--spec", "spec", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Components spec (TOML). Default: the embedded spec (this repository's own tools).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory the tarballs and side files are written to.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON on stdout.")
@click.option("--nix-result", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Existing nix build output to take `nix` sources from instead of building.")
@click.option("--source-date-epoch", type=click.IntRange(min=0), default=None,
              help="mtime of every entry, seconds since 1970 (default: SOURCE_DATE_EPOCH, else the commit date).")
def bundle_command(archs: tuple[str, ...], rev: str, spec: Path | None, out: Path, as_json: bool,
                   nix_result: Path | None, source_date_epoch: int | None) -> None:
    """Build reproducible cri-o.ARCH.REV.tar.gz bundles with .sha256sum and SPDX SBOM side files."""
    from crio_release.build.bundle import build_bundles

    revision = parse_revision(rev)
    tty = sys.stderr.isatty()
    result = build_bundles(
        spec, list(archs), revision, out, source_date_epoch=source_date_epoch, nix_result=nix_result,
        progress=tty and not as_json,
        on_event=None if (tty or as_json) else (lambda line: click.echo(line, err=True)),
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return
    for written in result.written():
        click.echo(f"{written.path}  {written.size} bytes  sha256 {written.sha256}")
