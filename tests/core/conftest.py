"""Shared fixtures of the crio-status tests: a CRI-O-like server on a unix socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.crio_api import CrioApiServer, start


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CrioApiServer, Path]]:
    monkeypatch.delenv("CRIO_SOCKET", raising=False)
    path = tmp_path / "crio.sock"
    server, _thread = start(path)
    yield server, path
    server.shutdown()
    server.server_close()
