"""What every click command of the toolkit shares: one-line errors with their exit codes."""

from __future__ import annotations

import sys

import click

from crio.errors import CrioError, ExitCode

EXIT_CODES_HELP = "Exit codes: " + ", ".join(f"{c.value} {c.name.lower().replace('_', '-')}" for c in ExitCode)


def run_main(group: click.Command, argv: list[str] | None = None) -> None:
    """Run a click command, turning CrioError into its one-line message and exit code."""
    try:
        code = group.main(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except CrioError as exc:
        name = group.name or "crio"
        click.echo(f"{name}: error: {' '.join(exc.message.split())}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
