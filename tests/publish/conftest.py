"""Buckets for the publisher tests: fake-gcs-server (honours preconditions), gcp-storage-emulator, file://."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers.gcs import fake_gcs_server, gcp_storage_server


@pytest.fixture(scope="session")
def fake_gcs_emulator():
    with fake_gcs_server() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcp_emulator():
    with gcp_storage_server() as emulator:
        yield emulator


def _new_bucket(emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"crio-{uuid.uuid4().hex[:12]}"
    emulator.create_bucket(name)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    return f"gs://{name}"


@pytest.fixture
def fake_gcs_bucket(fake_gcs_emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on fake-gcs-server: 412 on stale preconditions is real here."""
    return _new_bucket(fake_gcs_emulator, monkeypatch)


@pytest.fixture
def gcp_bucket(gcp_emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on gcp-storage-emulator: uploads, listings and public GETs only (no preconditions)."""
    return _new_bucket(gcp_emulator, monkeypatch)


@pytest.fixture
def file_bucket(tmp_path: Path) -> str:
    root = tmp_path / "bucket"
    root.mkdir()
    return root.as_uri()


@pytest.fixture(params=["fake-gcs", "file"])
def cas_bucket(request: pytest.FixtureRequest) -> str:
    """Each backend whose preconditions are real: fake-gcs-server and file://."""
    return request.getfixturevalue("fake_gcs_bucket" if request.param == "fake-gcs" else "file_bucket")


@pytest.fixture(scope="session")
def real_v1_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.22.1 for amd64 and arm64 built once by the real bundle builder (tarball, .sha256sum, SBOM, manifest)."""
    from helpers.bundles import make_embedded_bundles

    out = tmp_path_factory.mktemp("real-v1.22.1")
    make_embedded_bundles(out, "v1.22.1")
    return out
