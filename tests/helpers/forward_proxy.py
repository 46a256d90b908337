"""A small forward HTTP proxy on 127.0.0.1, for tests of the proxy variables (HTTP_PROXY, HTTPS_PROXY, ...).

- ``GET http://127.0.0.1:PORT/path HTTP/1.1`` (absolute URI): the request is sent on to the origin
  (headers passed through, Range included, ``Proxy-*`` dropped) and the answer relayed as it comes
  (streamed, never buffered whole), then the connection closed (the answer says ``Connection: close``).
- ``CONNECT 127.0.0.1:PORT HTTP/1.1``: a tunnel, bytes copied both ways until one side closes (HTTPS).

Each request line is recorded in ``lines``. ``cut_after(n)`` makes the next relayed GET answer stop
after `n` body bytes (once), closing the client's connection cleanly (a short body: every byte sent
arrives) or, with ``reset=True``, by a reset (bytes not yet read by the client may be lost). Only loopback origins are served (403 otherwise):
tests reach nothing but 127.0.0.1.

Usage::

    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
"""

from __future__ import annotations

import http.server
import select
import socket
import struct
import threading
from urllib.parse import urlsplit

from helpers.served import ServedInThread

_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                          "te", "trailer", "upgrade"})


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, *args: object) -> None:
        pass

    def _refuse(self, status: int, why: str) -> None:
        body = why.encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self.requestline)
        target = urlsplit(self.path)
        if target.scheme != "http" or target.hostname != "127.0.0.1" or not target.port:
            self._refuse(403, "this test proxy serves http://127.0.0.1:PORT only")
            return
        origin = socket.create_connection((target.hostname, target.port), timeout=5)
        with origin:
            path = target.path or "/"
            if target.query:
                path += f"?{target.query}"
            head = [f"GET {path} HTTP/1.1"]
            head += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS]
            head.append("Connection: close")
            origin.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            self._relay(origin, *owner._take_cut())
        self.close_connection = True

    def _relay(self, origin: socket.socket, cut: int | None, reset: bool) -> None:
        """Send the origin's answer on, saying Connection: close; stop after `cut` body bytes."""
        buffered = b""
        while b"\r\n\r\n" not in buffered:
            data = origin.recv(65536)
            if not data:
                self.connection.close()
                return
            buffered += data
        head, _, body = buffered.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n")
                 if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in _HOP_HEADERS]
        lines.append(b"Connection: close")
        self.connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        sent = 0
        while True:
            if cut is not None and sent + len(body) >= cut:
                self.connection.sendall(body[:max(0, cut - sent)])
                if reset:
                    _reset(self.connection)
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if body:
                try:
                    self.connection.sendall(body)
                except OSError:
                    return
                sent += len(body)
            body = origin.recv(65536)
            if not body:
                return

    def do_CONNECT(self) -> None:
        owner = self.server.owner
        owner._record(self.requestline)
        host, _, port = self.path.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit():
            self._refuse(403, "this test proxy tunnels to 127.0.0.1:PORT only")
            return
        try:
            origin = socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            self._refuse(502, "cannot reach the origin")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        with origin:
            self._tunnel(self.connection, origin)
        self.close_connection = True

    @staticmethod
    def _tunnel(client: socket.socket, origin: socket.socket) -> None:
        sockets = [client, origin]
        while True:
            readable, _w, _x = select.select(sockets, [], [], 5)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (origin if sock is client else client).sendall(data)


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: ForwardProxy


class ForwardProxy(ServedInThread):
    """A threaded forward proxy on 127.0.0.1:<free port>; `lines` records each request line it saw."""

    def __init__(self) -> None:
        self.httpd = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._cut: tuple[int | None, bool] = (None, False)
        self._serve_in_thread()

    def cut_after(self, body_bytes: int, reset: bool = False) -> None:
        """The next relayed GET answer ends after `body_bytes` bytes of body (closed, or reset); once."""
        with self._lock:
            self._cut = (body_bytes, reset)

    def _take_cut(self) -> tuple[int | None, bool]:
        with self._lock:
            cut, self._cut = self._cut, (None, False)
            return cut

    def _record(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
