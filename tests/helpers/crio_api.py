"""A small stand-in for CRI-O's HTTP API on a unix socket, answering in the shapes CRI-O serves today.

It serves `/info`, `/config`, `/containers/{id}`, `/debug/goroutines` and `/debug/heap`
like CRI-O's inspect server (`server/inspect.go`; JSON field names from `pkg/types`:
`CrioInfo`, `ContainerInfo`), including Go's `null` for nil maps and slices and
`http.Error`'s plain-text 404. It can be told to misbehave (stall, answer non-JSON,
fail, cut the heap dump short) for the error paths.
"""

from __future__ import annotations

import io
import json
import os
import socketserver
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

INFO = {
    "storage_driver": "overlay",
    "storage_image": "",
    "storage_root": "/var/lib/containers/storage",
    "cgroup_driver": "systemd",
    "default_id_mappings": {
        "uids": [{"container_id": 0, "host_id": 100000, "size": 65536}],
        "gids": [{"container_id": 0, "host_id": 200000, "size": 65536},
                 {"container_id": 65536, "host_id": 300000, "size": 1000}],
    },
}
CONFIG = '[crio]\nroot = "/var/lib/containers/storage"\n\n[crio.runtime]\ndefault_runtime = "crun"\n'
CONTAINERS = {
    "3f5e0c2d9a1b": {
        "name": "k8s_nginx_nginx-pod_default_0",
        "pid": 4242,
        "image": "docker.io/library/nginx:latest",
        "image_ref": "docker.io/library/nginx@sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac",
        "created_time": 1730000000123456789,
        "labels": {"io.kubernetes.pod.name": "nginx-pod", "io.kubernetes.container.name": "nginx"},
        "annotations": {"io.kubernetes.container.restartCount": "0"},
        "crio_annotations": {"io.kubernetes.cri-o.Image": "docker.io/library/nginx:latest",
                             "io.kubernetes.cri-o.ContainerType": "container"},
        "log_path": "/var/log/pods/default_nginx-pod_1f2e/nginx/0.log",
        "root": "/var/lib/containers/storage/overlay/9a8b/merged",
        "sandbox": "8c1d2e",
        "ip_addresses": ["10.85.0.12", "1100:200::c"],
        "host_network": False,
    },
    # An infra container as CRI-O returns it: Go's nil maps and slices are JSON null.
    "8c1d2e": {
        "name": "k8s_POD_nginx-pod_default_0",
        "pid": 4100,
        "image": "registry.k8s.io/pause:3.10",
        "image_ref": "",
        "created_time": 1729999999000000000,
        "labels": None,
        "annotations": None,
        "crio_annotations": None,
        "log_path": "",
        "root": "",
        "sandbox": "8c1d2e",
        "ip_addresses": None,
        "host_network": None,
    },
}
GOROUTINES = (
    "goroutine 1 [running]:\nmain.main()\n\t/go/src/github.com/cri-o/cri-o/cmd/crio/main.go:415 +0x1839\n\n"
    "goroutine 7 [select, 4030 minutes]:\ngithub.com/cri-o/cri-o/server.(*Server).Start()\n"
)
#: Opaque binary: every byte value, NULs, CR/LF and bytes that are not UTF-8, so nothing may decode or translate it.
HEAP = b"go1.7 heap dump\n" + bytes(range(256)) * 700 + b"\r\n\x00\xff\xfe"


class _Handler(BaseHTTPRequestHandler):
    server: CrioApiServer
    protocol_version = "HTTP/1.1"  # as Go's server: keep-alive, chunked bodies

    def log_message(self, *_args: object) -> None:
        return

    def _send(self, status: int, body: bytes, ctype: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, body: bytes, cut: bool) -> None:
        """Go's net/http streams a large body without Content-Length, in chunks; `cut` hangs up inside one."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        third = len(body) // 3 + 1
        for start in range(0, len(body), third):
            part = body[start:start + third]
            self.wfile.write(f"{len(part):x}\r\n".encode())
            if cut and start > 0:
                self.wfile.write(part[: len(part) // 2])
                self.close_connection = True
                return
            self.wfile.write(part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _not_found(self, text: str) -> None:
        self._send(404, f"{text}\n".encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        mode = self.server.mode
        if mode == "stall":
            time.sleep(self.server.stall_seconds)
            return
        if mode == "not-json":
            self._send(200, b"<html>oops</html>", "text/html")
            return
        if mode == "error":
            self._send(500, b"internal error", "text/plain")
            return
        if self.path == "/info":
            self._send(200, json.dumps(INFO).encode(), "application/json")
        elif self.path == "/config":
            self._send(200, CONFIG.encode(), "application/toml")
        elif self.path.startswith("/containers/"):
            wanted = self.path.removeprefix("/containers/")
            if wanted in CONTAINERS:
                self._send(200, json.dumps(CONTAINERS[wanted]).encode(), "application/json")
            else:
                self._not_found(f"can't find the container with id {wanted}")
        elif self.path == "/debug/goroutines" and mode != "old":
            self._send(200, GOROUTINES.encode(), "text/plain; charset=utf-8")
        elif self.path == "/debug/heap" and mode != "old":
            if mode == "short-length":  # promises the whole dump, sends half, hangs up
                self._send(200, HEAP[: len(HEAP) // 2], "application/octet-stream", length=len(HEAP))
                self.close_connection = True
            else:
                self._send_chunked(HEAP, cut=mode == "short-chunk")
        else:
            self._not_found("404 page not found")


class CrioApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.mode = "normal"
        self.stall_seconds = 2.0
        self.paths: list[str] = []
        super().__init__(str(path), _Handler)

    # BaseHTTPRequestHandler wants a (host, port) client address.
    def get_request(self):  # type: ignore[override]
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


def start(path: Path) -> tuple[CrioApiServer, threading.Thread]:
    server = CrioApiServer(path)
    os.chmod(path, 0o660)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.decode().splitlines()


def run_status(*args: str) -> Run:
    """Run the real crio-status entry point in this process (fast enough for the spelling matrix).

    Standard output is a text layer over bytes, so binary output (`heap -f -`) is captured as written.
    """
    from crio.cli import run_main
    from crio.status.cli import cli

    out, err = io.BytesIO(), io.BytesIO()
    text_out = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    text_err = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    with redirect_stdout(text_out), redirect_stderr(text_err):
        try:
            run_main(cli, list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue().decode())
