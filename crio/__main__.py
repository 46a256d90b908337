"""`python -m crio version [--json]`: what this build is."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from crio.cli import run_main
from crio.version import build_info


@click.group(name="crio")
def cli() -> None:
    """The CRI-O toolkit's shared runtime package."""


@cli.command("version")
@click.option("--json", "as_json", is_flag=True, help="Print the build information as JSON.")
def version_command(as_json: bool) -> None:
    """Print the CRI-O version and the build information stamped at build time."""
    info = build_info()
    click.echo(json.dumps(asdict(info), indent=2, sort_keys=True) if as_json else info.as_text())


def main() -> None:
    run_main(cli)


if __name__ == "__main__":
    main()
