"""The `crio-status` command: thin click wrappers over crio.status, spelled like upstream's `crio status`."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from crio import __version__
from crio.cli import run_main
from crio.status.client import DEFAULT_SOCKET, DEFAULT_TIMEOUT, StatusClient, pick_container_id
from crio.status.format import format_container, format_info
from crio.status.output import save_heap

#: Upstream's subcommand aliases (`crio status`, internal/criocli/status.go): alias -> command.
ALIASES: dict[str, str] = {
    "c": "config",
    "container": "containers",
    "cs": "containers",
    "s": "containers",
    "i": "info",
    "g": "goroutines",
    "hp": "heap",
}

EPILOG = """\b
Examples:
  crio-status info
  crio-status -s /run/crio/crio.sock info --json
  crio-status config > crio.toml
  crio-status containers --id 3f5e0c2d9a1b     (or: containers 3f5e0c2d9a1b)
  crio-status goroutines
  crio-status heap --file crio.heap            (-f - writes to standard output)

\b
Exit codes: 0 ok, 2 usage, 10 socket missing, 11 permission denied,
12 timeout, 13 not found (HTTP 404), 14 bad response (not JSON, HTTP error),
15 connection refused / not a socket, 16 output file exists (no --force)
or cannot be written.
"""


class _AliasedGroup(click.Group):
    """A group that also answers to upstream's short names and lists them in its help."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.commands[name]
            aliases = [alias for alias, target in ALIASES.items() if target == name]
            rows.append((f"{name} ({', '.join(aliases)})" if aliases else name, cmd.get_short_help_str(80)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(name="crio-status", cls=_AliasedGroup, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-s", "--socket", "socket_path", default=DEFAULT_SOCKET, show_default=True, envvar="CRIO_SOCKET",
              help="CRI-O's HTTP API socket.")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds to wait for each answer from CRI-O.")
@click.version_option(version=__version__, prog_name="crio-status", message="%(prog)s version %(version)s")
@click.pass_context
def cli(ctx: click.Context, socket_path: str, timeout: float) -> None:
    """Show what a running CRI-O reports about itself and its containers."""
    ctx.obj = StatusClient(socket_path, timeout)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_obj
def info(client: StatusClient, as_json: bool) -> None:
    """Cgroup and storage drivers, graph root, storage image, ID maps."""
    data = client.info()
    click.echo(json.dumps(data, indent=2) if as_json else format_info(data))


@cli.command()
@click.pass_obj
def config(client: StatusClient) -> None:
    """The daemon's configuration as TOML, as CRI-O serves it."""
    click.echo(client.config(), nl=False)


@cli.command()
@click.argument("container_id", metavar="[ID]", required=False)
@click.option("-i", "--id", "id_option", metavar="ID", help="The container ID (upstream's spelling).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_obj
def containers(client: StatusClient, container_id: str | None, id_option: str | None, as_json: bool) -> None:
    """Details of one container, given as ID or --id ID."""
    data = client.container(pick_container_id(container_id, id_option))
    click.echo(json.dumps(data, indent=2) if as_json else format_container(data))


@cli.command()
@click.pass_obj
def goroutines(client: StatusClient) -> None:
    """The daemon's goroutine stacks, as text."""
    click.echo(client.goroutines(), nl=False)


@cli.command()
@click.option("-f", "--file", "file", metavar="FILE",
              help="Where to write the dump; '-' is standard output. Default: crio-heap-<time>.out here.")
@click.option("--force", is_flag=True, help="Replace FILE if it already exists.")
@click.pass_obj
def heap(client: StatusClient, file: str | None, force: bool) -> None:
    """Save the daemon's heap dump to a file, written whole."""
    written = save_heap(client.heap(), file, force, sys.stdout.buffer, datetime.now().astimezone())
    if written is not None:
        click.echo(f"Wrote heap dump to: {written}", err=True)


def main() -> None:
    run_main(cli)


if __name__ == "__main__":
    main()
