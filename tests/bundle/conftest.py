"""Fixtures of the bundle builder's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.bundles import FileServer, write_minimal_bundle_files


@pytest.fixture
def bundle_files(tmp_path: Path) -> Path:
    return write_minimal_bundle_files(tmp_path / "bundle_files")


@pytest.fixture
def http_files() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server
