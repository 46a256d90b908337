"""`crio-release support`: the maintenance table of CRI-O's branches on a given day (crio.policy)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from crio.policy import FORMATS, support_report


@click.command("support")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Day to evaluate, YYYY-MM-DD (default: today, UTC).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True)
@click.option("--all", "include_eol", is_flag=True, help="Also list end-of-life branches.")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Kubernetes release data (default: the shipped crio/data/kubernetes-releases.toml).")
def support_command(on: datetime | None, fmt: str, include_eol: bool, data_file: Path | None) -> None:
    """Print which CRI-O branches are maintained, in the README's columns.

    \b
    Examples:
      crio-release support
      crio-release support --date 2021-06-01
      crio-release support --format json --all
    """
    click.echo(support_report(on.date() if on else None, fmt, include_eol, data_file), nl=False)
