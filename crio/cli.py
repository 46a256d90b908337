"""What every click command of the toolkit shares: one-line errors with their exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from crio.errors import CrioError, ExitCode

EXIT_CODES_HELP = "Exit codes: " + ", ".join(f"{c.value} {c.name.lower().replace('_', '-')}" for c in ExitCode)


def fail(message: str, code: int) -> None:
    """Print `PROG: error: MESSAGE` on one line to stderr and exit with `code`."""
    prog = click.get_current_context(silent=True)
    name = prog.find_root().info_name if prog is not None else "crio"
    click.echo(f"{name}: error: {' '.join(message.split())}", err=True)
    sys.exit(int(code))


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


def arch_option(*names: str, **kwargs: Any) -> Callable:
    """A click option whose value is normalised by crio.arch (x86_64 -> amd64)."""
    from crio.arch import normalize_arch

    def convert(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(dict.fromkeys(normalize_arch(v) for v in value))
        return normalize_arch(value)

    return click.option(*names, callback=convert, **kwargs)
