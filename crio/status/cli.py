"""The `crio-status` command: thin click wrappers over crio.status.client."""

from __future__ import annotations

import json

import click

from crio import __version__
from crio.cli import run_main
from crio.status.client import DEFAULT_SOCKET, DEFAULT_TIMEOUT, StatusClient, format_container, format_info

EPILOG = """\b
Examples:
  crio-status info
  crio-status --socket /run/crio/crio.sock info --json
  crio-status config > crio.toml
  crio-status containers 3f5e0c2d9a1b

\b
Exit codes: 0 ok, 2 usage, 10 socket missing, 11 permission denied,
12 timeout, 13 not found (HTTP 404), 14 bad response (not JSON, HTTP error),
15 connection refused / not a socket.
"""


@click.group(name="crio-status", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--socket", "socket_path", default=DEFAULT_SOCKET, show_default=True, envvar="CRIO_SOCKET",
              help="CRI-O's HTTP API socket.")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds to wait for CRI-O's answer.")
@click.version_option(version=__version__, prog_name="crio-status", message="%(prog)s version %(version)s")
@click.pass_context
def cli(ctx: click.Context, socket_path: str, timeout: float) -> None:
    """Show what a running CRI-O reports about itself and its containers."""
    ctx.obj = StatusClient(socket_path, timeout)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_obj
def info(client: StatusClient, as_json: bool) -> None:
    """Cgroup driver, storage driver and root, default UID/GID mappings."""
    data = client.info()
    click.echo(json.dumps(data, indent=2) if as_json else format_info(data))


@cli.command()
@click.pass_obj
def config(client: StatusClient) -> None:
    """The daemon's configuration as TOML, as CRI-O serves it."""
    click.echo(client.config(), nl=False)


@cli.command()
@click.argument("container_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_obj
def containers(client: StatusClient, container_id: str, as_json: bool) -> None:
    """Details of the container ID."""
    data = client.container(container_id)
    click.echo(json.dumps(data, indent=2) if as_json else format_container(data))


def main() -> None:
    run_main(cli)


if __name__ == "__main__":
    main()
