"""Fixtures: an unpacked test bundle (packed and unpacked with real tar) and an empty DESTDIR."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bundle_install import install_env, make_bundle_tree

DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle_tree(tmp_path / "bundle")


@pytest.fixture
def os_release(tmp_path: Path) -> Path:
    path = tmp_path / "os-release"
    path.write_text(DEBIAN_OS_RELEASE)
    return path


@pytest.fixture
def destdir(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path


@pytest.fixture
def env(destdir: Path, os_release: Path) -> dict[str, str]:
    return install_env(os_release, DESTDIR=str(destdir))
