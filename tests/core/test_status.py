"""crio-status against a CRI-O-like API server on a unix socket: output and every error with its exit code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from helpers.crio_api import CONFIG, CONTAINERS, INFO, CrioApiServer

from crio.errors import ExitCode


def status(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crio.status.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


INFO_LINES = [
    "cgroup driver: systemd",
    "storage driver: overlay",
    "storage graph root: /var/lib/containers/storage",
    "storage image: ",
    "default GID mappings (format <container>:<host>:<size>):",
    "  0:200000:65536",
    "  65536:300000:1000",
    "default UID mappings (format <container>:<host>:<size>):",
    "  0:100000:65536",
]


def test_info_prints_upstreams_lines(api: tuple[CrioApiServer, Path]) -> None:
    out = status("--socket", str(api[1]), "info")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == INFO_LINES


def test_info_json_is_the_raw_answer(api: tuple[CrioApiServer, Path]) -> None:
    out = status("--socket", str(api[1]), "info", "--json")
    assert json.loads(out.stdout) == INFO


def test_config_prints_toml_as_served(api: tuple[CrioApiServer, Path]) -> None:
    out = status("--socket", str(api[1]), "config")
    assert out.returncode == 0 and out.stdout == CONFIG


def test_containers_prints_upstreams_block(api: tuple[CrioApiServer, Path]) -> None:
    out = status("--socket", str(api[1]), "containers", "3f5e0c2d9a1b")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "name: k8s_nginx_nginx-pod_default_0",
        "pid: 4242",
        "image: docker.io/library/nginx:latest",
        "image ref: docker.io/library/nginx@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac",
        "created: 1730000000123456789",
        "labels:",
        "  io.kubernetes.container.name: nginx",
        "  io.kubernetes.pod.name: nginx-pod",
        "annotations:",
        "  io.kubernetes.container.restartCount: 0",
        "CRI-O annotations:",
        "  io.kubernetes.cri-o.ContainerType: container",
        "  io.kubernetes.cri-o.Image: docker.io/library/nginx:latest",
        "log path: /var/log/pods/default_nginx-pod_1f2e/nginx/0.log",
        "graph root: /var/lib/containers/storage/overlay/9a8b/merged",
        "sandbox: 8c1d2e",
        "ips: 10.85.0.12, 1100:200::c",
    ]
    raw = status("--socket", str(api[1]), "containers", "3f5e0c2d9a1b", "--json")
    assert json.loads(raw.stdout) == CONTAINERS["3f5e0c2d9a1b"]


def test_containers_with_go_nulls_prints_empty_blocks(api: tuple[CrioApiServer, Path]) -> None:
    """An infra container: CRI-O sends null maps and IPs; upstream prints the headers and empty values."""
    out = status("--socket", str(api[1]), "containers", "--id", "8c1d2e")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "name: k8s_POD_nginx-pod_default_0",
        "pid: 4100",
        "image: registry.k8s.io/pause:3.10",
        "image ref: ",
        "created: 1729999999000000000",
        "labels:",
        "annotations:",
        "CRI-O annotations:",
        "log path: ",
        "graph root: ",
        "sandbox: 8c1d2e",
        "ips: ",
    ]


def _one_line_error(out: subprocess.CompletedProcess[str], code: ExitCode, text: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], lines


def test_unknown_container_is_not_found(api: tuple[CrioApiServer, Path]) -> None:
    _one_line_error(status("--socket", str(api[1]), "containers", "deadbeef"), ExitCode.NOT_FOUND, "not found")


def test_invalid_container_id_is_a_usage_error(api: tuple[CrioApiServer, Path]) -> None:
    _one_line_error(status("--socket", str(api[1]), "containers", "../info"), ExitCode.USAGE, "invalid container ID")


def test_missing_socket(tmp_path: Path) -> None:
    _one_line_error(status("--socket", str(tmp_path / "nope.sock"), "info"), ExitCode.SOCKET_MISSING,
                    "does not exist")


def test_permission_denied(api: tuple[CrioApiServer, Path]) -> None:
    """As root the socket mode is ignored, so the child drops to nobody to hit EACCES for real."""
    if os.geteuid() != 0:
        os.chmod(api[1], 0)
        _one_line_error(status("--socket", str(api[1]), "info"), ExitCode.PERMISSION_DENIED, "permission denied")
        return
    os.chmod(api[1], 0o600)
    code = (
        "import os, sys; from crio.status.cli import main; import crio.status.client; "
        "os.setgid(65534); os.setuid(65534); "
        "sys.argv = ['crio-status', '--socket', sys.argv[1], 'info']; main()"
    )
    out = subprocess.run([sys.executable, "-c", code, str(api[1])], capture_output=True, text=True, timeout=30)
    _one_line_error(out, ExitCode.PERMISSION_DENIED, "permission denied")


def test_daemon_not_answering_times_out(api: tuple[CrioApiServer, Path]) -> None:
    api[0].mode = "stall"
    _one_line_error(status("--socket", str(api[1]), "--timeout", "0.3", "info"), ExitCode.TIMEOUT,
                    "did not answer")


def test_answer_that_is_not_json(api: tuple[CrioApiServer, Path]) -> None:
    api[0].mode = "not-json"
    _one_line_error(status("--socket", str(api[1]), "info"), ExitCode.BAD_RESPONSE, "not JSON")


def test_server_error_is_a_bad_response(api: tuple[CrioApiServer, Path]) -> None:
    api[0].mode = "error"
    _one_line_error(status("--socket", str(api[1]), "config"), ExitCode.BAD_RESPONSE, "HTTP 500")


def test_socket_nobody_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    _one_line_error(status("--socket", str(path), "info"), ExitCode.CONNECTION, "connection refused")


def test_help_shows_examples_aliases_and_exit_codes() -> None:
    out = status("--help")
    assert out.returncode == 0
    assert "crio-status info" in out.stdout and "13 not found" in out.stdout and "16 output file" in out.stdout
    assert "containers (container, cs, s)" in out.stdout and "heap (hp)" in out.stdout
    assert "-s, --socket" in out.stdout
