"""`crio-release bundle`: thin click wrapper over crio_release.build.bundle.build_bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP
from crio.revision import Revision
from crio_release.commands.options import arch_option, json_option, options, repo_option, rev_option


@click.command("bundle", epilog=f"""\b
Examples:
  crio-release bundle --rev v1.38.0 --out dist
  crio-release bundle --arch amd64 --arch arm64 --rev $GITHUB_SHA --spec production.toml --out dist --json

\b
--rev is required: the bundle's name and stamped commit come from it, and so
does the entries' mtime (its commit date in --repo) unless --source-date-epoch
or SOURCE_DATE_EPOCH says otherwise. A spec with a [nix] table has its nix
pins checked, and one with `production = true` every production rule, before
anything is fetched or written.
{EXIT_CODES_HELP}""")
@options(
    arch_option(help="Architecture to build"),
    rev_option(),
    repo_option("Git repository being released: the commit date of --rev and the nix/ expressions come from "
                "it (default: the repository of the current directory)."),
    click.option("--spec", "spec", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Components spec (TOML). Default: the embedded spec (this toolkit's own tools)."),
    click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
                 help="Directory the tarballs and side files are written to."),
    json_option("Print what was written as JSON on stdout."),
    click.option("--nix-result", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Existing nix build output to take `nix` sources from instead of building."),
    click.option("--source-date-epoch", type=click.IntRange(min=0), default=None,
                 help="mtime of every entry, seconds since 1970 (default: SOURCE_DATE_EPOCH, else the commit "
                      "date)."),
)
def bundle_command(archs: tuple[str, ...], revision: Revision, repo_path: Path | None, spec: Path | None,
                   out: Path, as_json: bool, nix_result: Path | None, source_date_epoch: int | None) -> None:
    """Build reproducible cri-o.ARCH.REV.tar.gz bundles with .sha256sum and SPDX SBOM side files."""
    from crio_release.build.bundle import build_bundles

    tty = sys.stderr.isatty()
    result = build_bundles(
        spec, list(archs), revision, out, repo=repo_path, source_date_epoch=source_date_epoch,
        nix_result=nix_result, progress=tty and not as_json,
        on_event=None if (tty or as_json) else (lambda line: click.echo(line, err=True)),
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return
    for written in result.written():
        click.echo(f"{written.path}  {written.size} bytes  sha256 {written.sha256}")
