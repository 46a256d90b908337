"""Every registered crio-release subcommand imports and answers --help; unknown ones are usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from crio_release.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: crio-release {name}" in result.output


def test_group_lists_every_command_and_unknown_ones_are_usage_errors() -> None:
    out = subprocess.run([sys.executable, "-m", "crio_release.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in out.stdout
    bad = subprocess.run([sys.executable, "-m", "crio_release.cli", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "No such command 'frobnicate'" in bad.stderr
