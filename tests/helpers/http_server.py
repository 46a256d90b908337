"""A real HTTP server on 127.0.0.1 serving a directory (a bucket layout), with injectable faults.

Serves GET with Range (206) like GCS. Faults are queued per URL path and
consumed one per request (`times=None` makes one permanent):

- ``reset``: send the headers and half the body, then reset the connection (RST)
- ``truncate``: promise the full Content-Length, send half, close cleanly
- ``stall``: accept, then send nothing until the client gives up (or the server stops)
- ``status:NNN``: answer NNN with a short body (e.g. ``status:503``)
- ``html404``: 404 with an HTML page (what CDNs and proxies serve)
- ``html200``: 200 with an HTML page instead of the object
- ``ignore_range``: answer 200 with the whole body even to a Range request
- ``redirect:NNN:LOCATION``: answer NNN (301, 302, 303, 307, 308) with ``Location: LOCATION``, relative
  (``redirect:302:/other/path``) or absolute (``redirect:307:http://127.0.0.1:PORT/x``)
- ``close``: answer normally, then close the connection without having said ``Connection: close``
  (a kept-alive connection the server drops; ``closes`` counts them)

By default every connection is closed after one answer, as before; ``keep_alive=True`` keeps the
connections of successful file answers open (HTTP/1.1 persistent connections, as GCS and CDNs do).
``connections`` counts accepted TCP connections, ``request_headers`` keeps each request's path and headers.
``TLSFaultServer`` is the same server behind TLS (``https://127.0.0.1:PORT``) with the caller's
``ssl.SSLContext``; the handshake runs in the connection's thread, so a client that rejects the
certificate costs nothing but that connection (``handshake_errors`` keeps the reasons).

Usage::

    with FaultServer(bucket_dir) as server:
        server.fault("/latest-main.txt", "html404")
        url = server.url  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import http.server
import socket
import ssl
import struct
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from helpers.served import ServedInThread

HTML_PAGE = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _redirect(self, fault: str) -> None:
        _kind, status, location = fault.split(":", 2)
        self.send_response(int(status))
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        owner = self.server.owner
        fault = owner._take_fault(path)
        owner._record(path, self.headers.get("Range"), fault, dict(self.headers.items()))
        if fault and fault.startswith("redirect:"):
            self._redirect(fault)
            return
        if fault and fault.startswith("status:"):
            self._send(int(fault.split(":", 1)[1]), b"injected failure\n")
            return
        if fault == "html404":
            self._send(404, HTML_PAGE, "text/html")
            return
        if fault == "html200":
            self._send(200, HTML_PAGE, "text/html")
            return
        if fault == "stall":
            owner._stop.wait(60)
            self.close_connection = True
            return
        file = (owner.root / path.lstrip("/")).resolve()
        if owner.root not in file.parents or not file.is_file():
            self._send(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        size = file.stat().st_size
        start, end = 0, size - 1
        status = 200
        range_header = self.headers.get("Range")
        if range_header and fault != "ignore_range" and range_header.startswith("bytes="):
            first, _, last = range_header[6:].partition("-")
            start = int(first) if first else 0
            end = int(last) if last else size - 1
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        # Say when the connection ends with this answer, as a real server does; else a client that pools
        # connections races the close with its next request. The `close` fault is the server that does not.
        keep = owner.keep_alive and fault is None
        if not keep and fault != "close":
            self.send_header("Connection", "close")
        self.end_headers()
        send = length if fault not in ("reset", "truncate") else max(1, length // 2)
        with open(file, "rb") as handle:
            handle.seek(start)
            left = send
            while left > 0:
                chunk = handle.read(min(1 << 20, left))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                left -= len(chunk)
        if fault == "reset":
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        if fault == "close":
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            owner._closed()
        self.close_connection = not keep


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self.owner._lock:
            self.owner.connections += 1
        super().process_request(request, client_address)

    def finish_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        context = self.owner.tls_context
        if context is not None:
            request.settimeout(5)
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                with self.owner._lock:
                    self.owner.handshake_errors.append(str(exc))
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


class FaultServer(ServedInThread):
    """Serve `root` on 127.0.0.1:<free port>; `fault(path, kind, times=1)` queues failures."""

    scheme = "http"
    tls_context: ssl.SSLContext | None = None

    def __init__(self, root: Path, keep_alive: bool = False) -> None:
        self.root = Path(root).resolve()
        self.keep_alive = keep_alive
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.connections = 0
        self.closes = 0
        self.handshake_errors: list[str] = []
        self.request_headers: list[tuple[str, dict[str, str]]] = []
        self._closed_event = threading.Event()
        self._lock = threading.Lock()
        self._faults: dict[str, list[str]] = {}
        self._permanent: dict[str, str] = {}
        self._stop = threading.Event()
        self.requests: list[tuple[str, str | None, str | None]] = []
        self._serve_in_thread()

    def _stopping(self) -> None:
        self._stop.set()

    def fault(self, path: str, kind: str, times: int | None = 1) -> None:
        """Queue `kind` for the next `times` requests of `path` (None: every request)."""
        with self._lock:
            if times is None:
                self._permanent[path] = kind
            else:
                self._faults.setdefault(path, []).extend([kind] * times)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._permanent.clear()
            self.requests.clear()
            self.request_headers.clear()

    def hits(self, path: str) -> int:
        return sum(1 for p, _r, _f in self.requests if p == path)

    def _take_fault(self, path: str) -> str | None:
        with self._lock:
            queued = self._faults.get(path)
            if queued:
                return queued.pop(0)
            return self._permanent.get(path)

    def wait_closed(self, timeout: float = 2.0) -> bool:
        """Whether a ``close`` fault has dropped its connection (it happens after the client has the body)."""
        return self._closed_event.wait(timeout)

    def _closed(self) -> None:
        with self._lock:
            self.closes += 1
        self._closed_event.set()

    def _record(self, path: str, range_header: str | None, fault: str | None,
                headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.requests.append((path, range_header, fault))
            self.request_headers.append((path, headers or {}))


class TLSFaultServer(FaultServer):
    """A FaultServer behind TLS: https://127.0.0.1:PORT with the certificate chain in `context`."""

    scheme = "https"

    def __init__(self, root: Path, context: ssl.SSLContext, keep_alive: bool = False) -> None:
        self.tls_context = context
        super().__init__(root, keep_alive)
