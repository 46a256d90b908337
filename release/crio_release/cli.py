"""`crio-release`: one click group; each subcommand lives in its own module."""

from __future__ import annotations

import importlib

import click

from crio import __version__
from crio.cli import run_main

#: subcommand name -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "support": "crio_release.commands.support:support_command",
    "bundle": "crio_release.commands.bundle:bundle_command",
    "sign": "crio_release.commands.sign:sign_command",
    "merge": "crio_release.commands.merge:merge_command",
    "provenance": "crio_release.commands.provenance:provenance_command",
    "publish": "crio_release.commands.publish:publish_command",
    "verify": "crio_release.commands.publish:verify_command",
    "markers": "crio_release.commands.publish:markers_command",
    "branch": "crio_release.commands.branches:branch_group",
    "forward": "crio_release.commands.branches:forward_command",
    "patch": "crio_release.commands.branches:patch_command",
    "tag": "crio_release.commands.branches:tag_command",
    "notes": "crio_release.commands.notes:notes_group",
    "reconcile": "crio_release.commands.reconcile:reconcile_command",
    "demo": "crio_release.commands.demo:demo_command",
}



class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(name="crio-release", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="crio-release", message="%(prog)s version %(version)s")
def cli() -> None:
    """Build, sign, publish and release CRI-O static bundles.

    \b
    Examples:
      crio-release support --date 2021-06-01
      crio-release COMMAND --help
    """


def main() -> None:
    run_main(cli)


if __name__ == "__main__":
    main()
