"""Talk HTTP/1.1 to CRI-O over its unix socket, and turn every failure into one classified error."""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
from dataclasses import dataclass
from typing import Any

from crio.errors import CrioError, ExitCode, UsageError

DEFAULT_SOCKET = "/var/run/crio/crio.sock"
DEFAULT_TIMEOUT = 5.0
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


@dataclass
class StatusClient:
    """A client of one CRI-O socket; each call returns parsed data or raises CrioError."""

    socket_path: str = DEFAULT_SOCKET
    timeout: float = DEFAULT_TIMEOUT

    def _get(self, path: str) -> tuple[int, str, bytes]:
        conn = _UnixConnection(self.socket_path, self.timeout)
        where = f"CRI-O socket {self.socket_path}"
        try:
            conn.request("GET", path, headers={"Accept": "application/json, application/toml, */*"})
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
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
        finally:
            conn.close()

    def _get_ok(self, path: str, what: str) -> bytes:
        status, _ctype, body = self._get(path)
        if status == 404:
            raise CrioError(f"{what} not found (HTTP 404 from {path})", ExitCode.NOT_FOUND)
        if status != 200:
            snippet = body[:80].decode("utf-8", "replace").strip()
            raise CrioError(f"CRI-O answered HTTP {status} for {path}: {snippet}", ExitCode.BAD_RESPONSE)
        return body

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
        """`GET /info`: storage and cgroup drivers, storage root, default ID mappings."""
        return self._get_json("/info", "daemon info")

    def config(self) -> str:
        """`GET /config`: the daemon's configuration as TOML text."""
        body = self._get_ok("/config", "configuration")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise CrioError("CRI-O's answer to /config is not UTF-8 text", ExitCode.BAD_RESPONSE) from None

    def container(self, container_id: str) -> dict[str, Any]:
        """`GET /containers/ID`: one container's details."""
        if not _CONTAINER_ID_RE.match(container_id):
            raise UsageError(
                f"invalid container ID {container_id!r}: expected letters, digits, '.', '_' or '-' (at most 128)"
            )
        return self._get_json(f"/containers/{container_id}", f"container {container_id}")


def format_info(info: dict[str, Any]) -> str:
    """The readable form of /info, in the order and wording `crio-status info` has always used."""
    lines = [
        f"cgroup driver: {info.get('cgroup_driver', '')}",
        f"storage driver: {info.get('storage_driver', '')}",
        f"storage root: {info.get('storage_root', '')}",
    ]
    mappings = info.get("default_id_mappings") or {}
    for kind, key in (("GID", "gids"), ("UID", "uids")):
        lines.append(f"default {kind} mappings (format <container>:<host>:<size>):")
        for entry in mappings.get(key) or []:
            lines.append(f"  {entry.get('container_id')}:{entry.get('host_id')}:{entry.get('size')}")
    return "\n".join(lines)


def format_container(info: dict[str, Any]) -> str:
    """One `key: value` line per field; nested values as compact JSON."""
    out = []
    for key, value in info.items():
        shown = value if isinstance(value, str | int | float) and not isinstance(value, bool) else json.dumps(value, sort_keys=True)
        out.append(f"{key}: {shown}")
    return "\n".join(out)
