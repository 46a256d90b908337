"""Fixtures: the real embedded bundle (built once, unpacked with tar per test), a DESTDIR, a clean environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bundle_install import install_env, unpack
from helpers.bundles import make_embedded_bundles

DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


@pytest.fixture(scope="session")
def embedded_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded spec's amd64 bundle, as `crio-release bundle` writes it."""
    result = make_embedded_bundles(tmp_path_factory.mktemp("embedded"), "v1.38.0", archs=("amd64",))
    return result.bundles["amd64"].tarball.path


@pytest.fixture
def bundle(tmp_path: Path, embedded_tarball: Path) -> Path:
    """A fresh unpacked copy per test, so a test may tamper with it."""
    return unpack(embedded_tarball, tmp_path / "bundle")


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
