"""Talk HTTP/1.1 to CRI-O over its unix socket, and turn every failure into one classified error.

The endpoints and their answers are CRI-O's inspect server (`server/inspect.go`, types in
`pkg/types`): `/info` and `/containers/ID` answer JSON, `/config` TOML text,
`/debug/goroutines` plain text and `/debug/heap` opaque binary bytes.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crio.errors import CrioError, ExitCode, UsageError

DEFAULT_SOCKET = "/var/run/crio/crio.sock"
DEFAULT_TIMEOUT = 5.0
INFO_ENDPOINT = "/info"
CONFIG_ENDPOINT = "/config"
CONTAINERS_ENDPOINT = "/containers"
GOROUTINES_ENDPOINT = "/debug/goroutines"
HEAP_ENDPOINT = "/debug/heap"
_CHUNK = 1 << 16
_CONTAINER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def check_container_id(container_id: str) -> str:
    """Refuse an ID that could leave `/containers/` (a '/', '..', spaces) before it reaches the URL."""
    if not _CONTAINER_ID_RE.match(container_id):
        raise UsageError(
            f"invalid container ID {container_id!r}: expected letters, digits, '.', '_' or '-' (at most 128)"
        )
    return container_id


def pick_container_id(positional: str | None, option: str | None) -> str:
    """One container ID from `containers ID` (ours) or `containers --id ID` (upstream's); both must agree."""
    given = [value for value in (positional, option) if value is not None]
    if not given:
        raise UsageError("a container ID is required: `containers ID` or `containers --id ID`")
    if len(given) == 2 and given[0] != given[1]:
        raise UsageError(f"two different container IDs given ({given[0]!r} and --id {given[1]!r}): give one")
    if given[0] == "":
        raise UsageError("the container ID is empty: give the ID of a container CRI-O runs")
    return check_container_id(given[0])


@dataclass
class StatusClient:
    """A client of one CRI-O socket; each call returns parsed data or raises CrioError."""

    socket_path: str = DEFAULT_SOCKET
    timeout: float = DEFAULT_TIMEOUT

    @contextmanager
    def _classified(self) -> Iterator[None]:
        """Map what the socket and HTTP layer raise to the exit code of its class (10-15)."""
        where = f"CRI-O socket {self.socket_path}"
        try:
            yield
        except FileNotFoundError:
            raise CrioError(f"{where} does not exist: is CRI-O running? (use --socket PATH)",
                            ExitCode.SOCKET_MISSING) from None
        except PermissionError:
            raise CrioError(f"permission denied on {where}: run as root or a member of its group",
                            ExitCode.PERMISSION_DENIED) from None
        except TimeoutError:
            raise CrioError(f"CRI-O did not answer on {self.socket_path} within {self.timeout:g}s",
                            ExitCode.TIMEOUT) from None
        except ConnectionRefusedError:
            raise CrioError(f"nothing is listening on {where} (connection refused): is CRI-O running?",
                            ExitCode.CONNECTION) from None
        except OSError as exc:
            if exc.errno == errno.ENOTSOCK or exc.errno == errno.ECONNREFUSED:
                raise CrioError(f"{where} is not a listening socket ({exc.strerror})",
                                ExitCode.CONNECTION) from None
            raise CrioError(f"cannot talk to {where}: {exc}", ExitCode.CONNECTION) from None
        except http.client.HTTPException as exc:
            raise CrioError(f"CRI-O sent a malformed HTTP answer on {self.socket_path}: {exc!r}",
                            ExitCode.BAD_RESPONSE) from None

    def stream(self, path: str, what: str) -> Iterator[bytes]:
        """GET `path` and yield the body of a 200 answer in chunks, so a large heap dump never sits in memory.

        Only the socket work runs inside the error mapping: whatever the caller does with a
        chunk (writing a file) raises its own errors, not a misleading socket one.
        """
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            with self._classified():
                conn.request("GET", path, headers={"Accept": "application/json, application/toml, */*"})
                response = conn.getresponse()
                if response.status != 200:
                    snippet = response.read(80).decode("utf-8", "replace").strip()
            if response.status == 404:
                raise CrioError(f"{what} not found (HTTP 404 from {path})", ExitCode.NOT_FOUND)
            if response.status != 200:
                raise CrioError(f"CRI-O answered HTTP {response.status} for {path}: {snippet}",
                                ExitCode.BAD_RESPONSE)
            received = 0
            while True:
                with self._classified():
                    chunk = response.read(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                yield chunk
            if response.length:  # read(amt) reports a short Content-Length body as a quiet end
                raise CrioError(f"CRI-O's answer to {path} ended after {received} bytes, {response.length} short",
                                ExitCode.BAD_RESPONSE)
        finally:
            conn.close()

    def _get_ok(self, path: str, what: str) -> bytes:
        return b"".join(self.stream(path, what))

    def _get_text(self, path: str, what: str) -> str:
        body = self._get_ok(path, what)
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise CrioError(f"CRI-O's answer to {path} is not UTF-8 text", ExitCode.BAD_RESPONSE) from None

    def _get_json(self, path: str, what: str) -> dict[str, Any]:
        body = self._get_ok(path, what)
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CrioError(f"CRI-O's answer to {path} is not JSON: {body[:60]!r}", ExitCode.BAD_RESPONSE) from None
        if not isinstance(data, dict):
            raise CrioError(f"CRI-O's answer to {path} is not a JSON object", ExitCode.BAD_RESPONSE)
        return data

    def info(self) -> dict[str, Any]:
        """`GET /info`: cgroup and storage drivers, graph root, storage image, default ID mappings."""
        return self._get_json(INFO_ENDPOINT, "daemon info")

    def config(self) -> str:
        """`GET /config`: the daemon's configuration as TOML text."""
        return self._get_text(CONFIG_ENDPOINT, "configuration")

    def container(self, container_id: str) -> dict[str, Any]:
        """`GET /containers/ID`: one container's details."""
        check_container_id(container_id)
        return self._get_json(f"{CONTAINERS_ENDPOINT}/{container_id}", f"container {container_id}")

    def goroutines(self) -> str:
        """`GET /debug/goroutines`: the daemon's goroutine stacks as text."""
        return self._get_text(GOROUTINES_ENDPOINT, "goroutine stacks")

    def heap(self) -> Iterator[bytes]:
        """`GET /debug/heap`: the daemon's heap dump, opaque binary, in chunks."""
        return self.stream(HEAP_ENDPOINT, "heap dump")
