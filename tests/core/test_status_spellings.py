"""Every spelling upstream's `crio status` accepts works on crio-status, with the same output; ours still work too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.crio_api import CONFIG, CONTAINERS, GOROUTINES, INFO, CrioApiServer, run_status

from crio.errors import ExitCode
from crio.status.cli import ALIASES, cli
from crio.status.format import format_container, format_info

ID = "3f5e0c2d9a1b"


def test_aliases_are_upstreams() -> None:
    """Upstream (internal/criocli/status.go): config c; containers container, cs, s; info i; goroutines g; heap hp."""
    assert ALIASES == {"c": "config", "container": "containers", "cs": "containers", "s": "containers",
                       "i": "info", "g": "goroutines", "hp": "heap"}
    assert set(cli.commands) == {"config", "containers", "info", "goroutines", "heap"}


@pytest.mark.parametrize("socket_form", ["--socket", "-s", "--socket=PATH", "-sPATH", "env"])
def test_every_socket_spelling_reaches_the_socket(api: tuple[CrioApiServer, Path], socket_form: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if socket_form == "env":
        monkeypatch.setenv("CRIO_SOCKET", str(api[1]))
        args: list[str] = []
    elif socket_form.endswith("PATH"):
        args = [socket_form.replace("PATH", str(api[1]))]
    else:
        args = [socket_form, str(api[1])]
    out = run_status(*args, "info")
    assert out.code == 0, out.stderr
    assert out.lines == format_info(INFO).splitlines()
    assert api[0].paths == ["/info"]


def test_socket_flag_beats_the_environment(api: tuple[CrioApiServer, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIO_SOCKET", str(tmp_path / "elsewhere.sock"))
    assert run_status("-s", str(api[1]), "info").code == 0
    assert run_status("info").code == ExitCode.SOCKET_MISSING


@pytest.mark.parametrize("name", ["info", "i"])
@pytest.mark.parametrize("as_json", [False, True])
def test_info_spellings(api: tuple[CrioApiServer, Path], name: str, as_json: bool) -> None:
    out = run_status("-s", str(api[1]), name, *(["--json"] if as_json else []))
    assert out.code == 0, out.stderr
    if as_json:
        assert json.loads(out.stdout) == INFO
    else:
        assert out.lines[:4] == ["cgroup driver: systemd", "storage driver: overlay",
                                 "storage graph root: /var/lib/containers/storage", "storage image: "]


@pytest.mark.parametrize("name", ["config", "c"])
def test_config_spellings(api: tuple[CrioApiServer, Path], name: str) -> None:
    out = run_status("-s", str(api[1]), name)
    assert out.code == 0 and out.stdout == CONFIG.encode()


@pytest.mark.parametrize("name", ["containers", "container", "cs", "s"])
@pytest.mark.parametrize("id_args", [[ID], ["--id", ID], ["-i", ID], [f"--id={ID}"], [f"-i{ID}"], [ID, "--id", ID]],
                         ids=["positional", "--id", "-i", "--id=", "-iID", "both-agree"])
def test_containers_spellings(api: tuple[CrioApiServer, Path], name: str, id_args: list[str]) -> None:
    out = run_status("-s", str(api[1]), name, *id_args)
    assert out.code == 0, out.stderr
    assert out.lines == format_container(CONTAINERS[ID]).splitlines()
    assert out.lines[0] == "name: k8s_nginx_nginx-pod_default_0" and out.lines[-1] == "ips: 10.85.0.12, 1100:200::c"
    assert api[0].paths == [f"/containers/{ID}"]


@pytest.mark.parametrize("name", ["containers", "cs"])
def test_containers_json_spellings(api: tuple[CrioApiServer, Path], name: str) -> None:
    out = run_status("-s", str(api[1]), name, "-i", ID, "--json")
    assert out.code == 0 and json.loads(out.stdout) == CONTAINERS[ID]


@pytest.mark.parametrize(("args", "text"), [
    ([], "a container ID is required"),
    (["--id", ""], "the container ID is empty"),
    (["a1", "--id", "b2"], "two different container IDs"),
    (["--id", "../info"], "invalid container ID"),
    (["-i", "a/b"], "invalid container ID"),
])
def test_containers_id_mistakes_are_usage_errors(api: tuple[CrioApiServer, Path], args: list[str], text: str) -> None:
    out = run_status("-s", str(api[1]), "containers", *args)
    assert out.code == ExitCode.USAGE and out.stdout == b""
    assert len(out.stderr.strip().splitlines()) == 1 and text in out.stderr
    assert api[0].paths == []


@pytest.mark.parametrize("name", ["goroutines", "g"])
def test_goroutines_spellings_print_the_stacks_as_served(api: tuple[CrioApiServer, Path], name: str) -> None:
    out = run_status("-s", str(api[1]), name)
    assert out.code == 0, out.stderr
    assert out.stdout == GOROUTINES.encode()
    assert api[0].paths == ["/debug/goroutines"]


def test_goroutines_on_a_crio_without_the_endpoint(api: tuple[CrioApiServer, Path]) -> None:
    api[0].mode = "old"
    out = run_status("-s", str(api[1]), "goroutines")
    assert out.code == ExitCode.NOT_FOUND and out.stdout == b""
    assert out.stderr.strip() == "crio-status: error: goroutine stacks not found (HTTP 404 from /debug/goroutines)"


@pytest.mark.parametrize("name", ["x", "status", "conf"])
def test_unknown_commands_are_usage_errors(api: tuple[CrioApiServer, Path], name: str) -> None:
    out = run_status("-s", str(api[1]), name)
    assert out.code == ExitCode.USAGE and "No such command" in out.stderr


@pytest.mark.parametrize(("alias", "command"), sorted(ALIASES.items()))
def test_help_of_an_alias_is_the_commands_help(alias: str, command: str) -> None:
    out = run_status(alias, "--help")
    assert out.code == 0 and f" {command} [OPTIONS]" in out.stdout.decode()
