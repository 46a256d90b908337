"""The man page and completions describe the real crio-status: its commands, options and exit codes."""

from __future__ import annotations

import re
import shutil
import subprocess

import click
import pytest
from helpers.bundle_install import BUNDLE_FILES

from crio.errors import ExitCode
from crio.status.cli import ALIASES, cli

COMMANDS = sorted(cli.commands)
GLOBAL_OPTIONS = [*sorted(o for p in cli.params if isinstance(p, click.Option) for o in p.opts), "--help", "-h"]
COMMAND_OPTIONS = {name: sorted(o for p in cmd.params if isinstance(p, click.Option) for o in p.opts)
                   for name, cmd in cli.commands.items()}
COMMAND_ONLY_OPTIONS = sorted({o for opts in COMMAND_OPTIONS.values() for o in opts if o not in ("-h", "--help")})
STATUS_CODES = [ExitCode.SOCKET_MISSING, ExitCode.PERMISSION_DENIED, ExitCode.TIMEOUT, ExitCode.NOT_FOUND,
                ExitCode.BAD_RESPONSE, ExitCode.CONNECTION, ExitCode.OUTPUT_FILE]


def bash_complete(*words: str) -> list[str]:
    """Run the shipped bash completion function on `crio-status WORDS...` (last word is being completed)."""
    script = (
        f"source {BUNDLE_FILES / 'completions/bash/crio-status'}\n"
        'COMP_WORDS=(crio-status "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
        "_crio_status; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(["bash", "--norc", "-c", script, "_", *words], capture_output=True, text=True, check=True)
    return sorted(line for line in out.stdout.splitlines() if line)


def test_bash_completes_the_real_commands_and_options() -> None:
    assert bash_complete("") == COMMANDS
    assert bash_complete("co") == [c for c in COMMANDS if c.startswith("co")]
    assert bash_complete("-") == sorted(GLOBAL_OPTIONS)
    assert bash_complete("--socket", "/run/x", "") == COMMANDS
    for command, options in COMMAND_OPTIONS.items():
        assert set(options) <= set(bash_complete(command, "-")), command
    assert bash_complete("info", "--j") == ["--json"]
    assert bash_complete("-s", "/run/x", "co") == ["config", "containers"]


def test_bash_knows_upstreams_aliases_and_option_values() -> None:
    for alias, command in ALIASES.items():
        assert bash_complete(alias, "-") == bash_complete(command, "-"), alias
    assert bash_complete("cs", "--id", "") == []  # a container ID: nothing to guess
    assert bash_complete("heap", "--f") == ["--file", "--force"]


def test_fish_and_zsh_name_every_command_and_option() -> None:
    fish = (BUNDLE_FILES / "completions/fish/crio-status.fish").read_text()
    zsh = (BUNDLE_FILES / "completions/zsh/_crio-status").read_text()
    assert zsh.startswith("#compdef crio-status\n")
    for command in COMMANDS:
        assert f"-a {command} " in fish
        assert f"'{command}:" in zsh
    for option in [*GLOBAL_OPTIONS, *COMMAND_ONLY_OPTIONS]:
        name = option.lstrip("-")
        assert (f"-l {name}" in fish) or (f"-s {name}" in fish), option
        assert option in zsh, option
    for alias in ALIASES:
        assert f" {alias} " in fish.split("set -l __crio_status_commands", 1)[1].splitlines()[0] + " ", alias
        assert re.search(rf"\b{alias}\)|\| {alias}\b", zsh), alias


@pytest.mark.parametrize("shell", ["fish", "zsh"])
def test_other_shells_parse_their_completion(shell: str) -> None:
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed here (syntax checked only where it is)")
    name = {"fish": "completions/fish/crio-status.fish", "zsh": "completions/zsh/_crio-status"}[shell]
    subprocess.run([exe, "-n", str(BUNDLE_FILES / name)], check=True)


def test_man_page_describes_the_real_cli() -> None:
    text = (BUNDLE_FILES / "man/crio-status.8").read_text()
    plain = text.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    for command in COMMANDS:
        assert re.search(rf"^\.(B|BI|BR|TP)?\s*{command}\b", plain, re.M) or f"\n.B {command}\n" in plain, command
    for option in [*GLOBAL_OPTIONS, *COMMAND_ONLY_OPTIONS]:
        assert option in plain, option
    for command in COMMANDS:
        aliases = [alias for alias, target in ALIASES.items() if target == command]
        assert f"({', '.join(aliases)})" in plain, command
    assert "/var/run/crio/crio.sock" in plain and "CRIO_SOCKET" in plain
    section = plain.split(".SH EXIT STATUS")[1].split(".SH ")[0]
    for code in [ExitCode.OK, ExitCode.INTERNAL, ExitCode.USAGE, *STATUS_CODES]:
        assert f".B {int(code)}\n" in section, code


def test_man_page_renders_without_warnings() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(BUNDLE_FILES / "man/crio-status.8")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""


def test_fish_completes_the_real_commands_and_options() -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed here")
    source = BUNDLE_FILES / "completions/fish/crio-status.fish"

    def complete(line: str) -> list[str]:
        out = subprocess.run([fish, "--no-config", "-c", f"source {source}; complete -C'{line}'"],
                             capture_output=True, text=True, check=True)
        return sorted(row.split("\t")[0] for row in out.stdout.splitlines() if row)

    assert complete("crio-status ") == COMMANDS
    assert complete("crio-status --") == sorted(o for o in GLOBAL_OPTIONS if o.startswith("--"))
    assert "--json" in complete("crio-status info --")
    assert "--json" not in complete("crio-status config --")
    assert {"--id", "--json"} <= set(complete("crio-status cs --"))
    assert {"--file", "--force"} <= set(complete("crio-status hp --"))
    assert "--file" not in complete("crio-status info --")
