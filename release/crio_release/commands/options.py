"""The options several `crio-release` commands share, each defined once: name, type, default and help.

Why one module: the same flag must mean the same thing everywhere (`--repo`
is always a git repository path, `--arch` always takes uname spellings and
defaults to what crio.arch says), and a fix to one help text reaches every
command. Each factory returns a click decorator; `help` adds what the option
does in that command when it differs (the default text says what it is).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from crio.arch import DEFAULT_BUILD_ARCHITECTURES, normalize_arch
from crio.revision import ACCEPTED_REVISIONS, Revision, parse_revision
from crio.signing import SIGNING_KEY_ENV, VERIFY_KEY_ENV

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

BUCKET_HELP = "Bucket URL: gs://BUCKET[/PREFIX] (STORAGE_EMULATOR_HOST honoured) or file:///DIR."
REPO_HELP = "Git repository to work on (default: the repository of the current directory)."
DRY_RUN_HELP = "Print what would be done; change nothing."
GIT_DRY_RUN_HELP = "Print the git commands that would run; change nothing."
JSON_HELP = "Print the result as JSON on stdout."
KEY_HELP = {
    "private": f"PEM ECDSA P-256 private key (default: the file named by ${SIGNING_KEY_ENV}).",
    "public": f"PEM public key to check signatures with (default: the file named by ${VERIFY_KEY_ENV}).",
}


def normalize_archs(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """x86_64 -> amd64 and so on, duplicates dropped, order kept; a bad name exits UNSUPPORTED_ARCH."""
    return tuple(dict.fromkeys(normalize_arch(v) for v in value))


def arch_option(default: Sequence[str] = DEFAULT_BUILD_ARCHITECTURES, help: str = "Architecture") -> Decorator:
    """--arch (repeatable): bundle architectures in any uname -m spelling; absent means `default`."""
    return click.option("--arch", "archs", multiple=True, default=tuple(default), callback=normalize_archs,
                        help=f"{help} (repeatable; default: {', '.join(default)}).")


def _parse_rev(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Revision | None:
    return None if value is None else parse_revision(value)


def rev_option(help: str = "Revision", required: bool = True) -> Decorator:
    """--rev: a full commit SHA or a version tag, parsed by crio.revision (the command gets a Revision)."""
    return click.option("--rev", "revision", required=required, callback=_parse_rev,
                        help=f"{help}: {ACCEPTED_REVISIONS}.")


def repo_option(help: str = REPO_HELP) -> Decorator:
    """--repo: a git repository path; the command decides what None (not given) means."""
    return click.option("--repo", "repo_path", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=help)


def bucket_option(required: bool = True, help: str = BUCKET_HELP) -> Decorator:
    """--bucket: a bucket URL, opened by crio_release.publish.storage.open_bucket."""
    return click.option("--bucket", "bucket_url", required=required, default=None, help=help)


def key_option(kind: str, help: str | None = None) -> Decorator:
    """--key: a PEM file, `private` (signing) or `public` (verifying); read by the library, never echoed."""
    return click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help=help or KEY_HELP[kind])


def dry_run_option(help: str = DRY_RUN_HELP) -> Decorator:
    return click.option("--dry-run", is_flag=True, help=help)


def json_option(help: str = JSON_HELP) -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def options(*decorators: Decorator) -> Decorator:
    """Apply several option decorators in the order given (as they are listed in --help)."""
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn
    return apply


def add_help(command: click.Command, extra: str) -> None:
    """Append a shared paragraph to a command's docstring help, both dedented so click formats them alike."""
    command.help = inspect.cleandoc(command.help or "") + "\n\n" + inspect.cleandoc(extra)
