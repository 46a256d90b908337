"""A small stand-in for CRI-O's HTTP API on a unix socket, answering as CRI-O documents it.

It serves `/info`, `/config` and `/containers/:id` like a running CRI-O, and
can be told to misbehave (stall, answer non-JSON, fail) for the error paths.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

INFO = {
    "storage_driver": "overlay",
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
        "sandbox": "8c1d2e",
        "labels": {"io.kubernetes.pod.name": "nginx-pod"},
    }
}


class _Handler(BaseHTTPRequestHandler):
    server: CrioApiServer

    def log_message(self, *_args: object) -> None:
        return

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
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
        elif self.path.startswith("/containers/") and self.path.removeprefix("/containers/") in CONTAINERS:
            self._send(200, json.dumps(CONTAINERS[self.path.removeprefix("/containers/")]).encode(),
                       "application/json")
        else:
            self._send(404, b"404 page not found\n", "text/plain")


class CrioApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.mode = "normal"
        self.stall_seconds = 2.0
        super().__init__(str(path), _Handler)

    # BaseHTTPRequestHandler wants a (host, port) client address.
    def get_request(self):  # type: ignore[override]
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


def start(path: Path) -> tuple[CrioApiServer, threading.Thread]:
    server = CrioApiServer(path)
    os.chmod(path, 0o660)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
