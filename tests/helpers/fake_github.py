"""A fake GitHub REST API on 127.0.0.1: pull requests, "pull requests of a commit", faults, a request counter.

Serves what the release-notes client reads, shaped like GitHub's answers:

- ``GET /repos/O/R/pulls/N``: the pull request, or 404 ``{"message": "Not Found"}``
- ``GET /repos/O/R/commits/SHA/pulls``: the pull requests of a commit, ``page_size`` per page, with
  a ``Link: <...>; rel="next"`` header (absolute URL, as GitHub sends) while more pages remain

Faults are queued per path and consumed one per request: ``rate403`` (403 with
``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` = now + ``reset_in``),
``retry403`` (403 with ``Retry-After``), ``rate429`` (429 with ``Retry-After``),
``forbidden`` (403 without rate-limit headers), ``status:NNN``.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from helpers.served import ServedInThread

_PULL = re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$")
_COMMIT_PULLS = re.compile(r"^/repos/([^/]+/[^/]+)/commits/([0-9a-f]{40})/pulls$")


@dataclass
class Request:
    path: str
    query: str
    status: int
    authorization: str | None


@dataclass
class FakeGitHub(ServedInThread):
    """Start with `with FakeGitHub() as api:`; `api.url` is the API root to put in GITHUB_API_URL."""

    repository: str = "cri-o/cri-o"
    page_size: int = 30
    retry_after: int = 0
    reset_in: int = 0
    latency: float = 0.0  # seconds added to every answer, to model a distant API in benchmarks
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, list[str]] = {}
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._serve_in_thread()

    def add_pull(self, number: int, body: str, author: str, *, title: str = "", labels: tuple[str, ...] = (),
                 merge_commit_sha: str | None = None, merged: bool = True) -> None:
        self.pulls[number] = {
            "number": number, "title": title or f"Pull request {number}", "body": body, "state": "closed",
            "user": {"login": author, "type": "User"}, "labels": [{"name": name} for name in labels],
            "merged_at": "2026-11-20T10:00:00Z" if merged else None, "merge_commit_sha": merge_commit_sha,
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
        }

    def fault(self, path: str, kind: str, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(path, []).extend([kind] * times)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def _take(self, path: str) -> str | None:
        with self._lock:
            queued = self._faults.get(path)
            return queued.pop(0) if queued else None

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, extra headers) for a GET."""
        fault = self._take(path)
        if fault is not None:
            return self._fault(fault)
        match = _PULL.match(path)
        if match and match.group(1) == self.repository and int(match.group(2)) in self.pulls:
            return 200, self.pulls[int(match.group(2))], {}
        match = _COMMIT_PULLS.match(path)
        if match and match.group(1) == self.repository:
            numbers = self.commit_pulls.get(match.group(2))
            if numbers is None:
                return 422, {"message": f"No commit found for SHA: {match.group(2)}"}, {}
            per_page = min(int(query.get("per_page", ["30"])[0]), self.page_size)
            page = int(query.get("page", ["1"])[0])
            items = [self.pulls[n] for n in numbers][(page - 1) * per_page:page * per_page]
            headers = {}
            if page * per_page < len(numbers):
                headers["Link"] = f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
            return 200, items, headers
        return 404, {"message": "Not Found"}, {}

    def _fault(self, fault: str) -> tuple[int, Any, dict[str, str]]:
        if fault == "rate403":
            reset = str(int(time.time()) + self.reset_in)
            return 403, {"message": "API rate limit exceeded"}, {"X-RateLimit-Remaining": "0",
                                                                  "X-RateLimit-Reset": reset}
        if fault == "retry403":
            return 403, {"message": "You have exceeded a secondary rate limit"}, {"Retry-After": str(self.retry_after)}
        if fault == "rate429":
            return 429, {"message": "Too Many Requests"}, {"Retry-After": str(self.retry_after)}
        if fault == "forbidden":
            return 403, {"message": "Resource not accessible by integration"}, {}
        return int(fault.split(":", 1)[1]), {"message": "injected failure"}, {}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body are two writes: without this, Nagle and delayed ACKs add ~40 ms to each answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        status, data, headers = owner.answer(parts.path, parse_qs(parts.query))
        owner._record(Request(parts.path, parts.query, status, self.headers.get("Authorization")))
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeGitHub
