"""`crio-release support`: the maintenance table of CRI-O's branches on a given day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from crio.policy import branch_statuses, load_releases, render_json, render_markdown


@click.command("support")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Day to evaluate, YYYY-MM-DD (default: today, UTC).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--all", "include_eol", is_flag=True, help="Also list end-of-life branches.")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Kubernetes release data (default: the shipped crio/data/kubernetes-releases.toml).")
def support_command(on: object, fmt: str, include_eol: bool, data_file: Path | None) -> None:
    """Print which CRI-O branches are maintained, in the README's columns.

    \b
    Examples:
      crio-release support
      crio-release support --date 2021-06-01
      crio-release support --format json --all
    """
    from datetime import UTC, datetime

    day: date = on.date() if isinstance(on, datetime) else datetime.now(UTC).date()
    try:
        rows = branch_statuses(day, load_releases(data_file), include_eol=include_eol)
    except (ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(render_markdown(rows) if fmt == "markdown" else render_json(day, rows), nl=False)
