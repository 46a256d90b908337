"""Upload failures through a fault-injecting proxy in front of fake-gcs-server: retried, then reported per object."""

from __future__ import annotations

import uuid
from pathlib import Path

import crio_release.publish.storage_gcs as storage_module
import pytest
from crio_release.publish.publish import publish_revision
from crio_release.publish.storage import open_bucket
from helpers.gcs import FaultProxy
from helpers.publish import make_revision_set

from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision


def _upload_of(name: str):
    needle = f'"artifacts/{name}"'.encode()
    return lambda method, path, body: method == "POST" and path.startswith("/upload/") and needle in body


def test_failed_uploads_are_retried_then_reported_and_no_marker_moves(
        fake_gcs_emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(storage_module, "RETRY_INITIAL_DELAY", 0.05)
    bucket = f"crio-{uuid.uuid4().hex[:12]}"
    fake_gcs_emulator.create_bucket(bucket)
    url = f"gs://{bucket}"
    with FaultProxy(fake_gcs_emulator.url) as proxy:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        # Transient: two 503s for one object, then it goes through; the publish succeeds.
        proxy.fail(_upload_of("cri-o.amd64.v1.22.1.tar.gz.spdx"), times=2)
        report = publish_revision(url, parse_revision("v1.22.1"), make_revision_set(tmp_path / "v1", "v1.22.1"))
        assert proxy.injected == 2 and len(report.uploaded) == 7
        assert [m.outcome for m in report.markers] == ["moved", "moved"]

        # Persistent: one object keeps failing past the retry budget.
        monkeypatch.setattr(storage_module, "RETRY_SECONDS", 1.0)
        proxy.fail(_upload_of("cri-o.arm64.v1.22.2.tar.gz.sha256sum"), times=10_000)
        with pytest.raises(CrioError) as err:
            publish_revision(url, parse_revision("v1.22.2"), make_revision_set(tmp_path / "v2", "v1.22.2"))
    assert err.value.exit_code == ExitCode.STORAGE_UNREACHABLE
    assert "1 upload(s) failed, no marker moved" in err.value.message
    assert "cri-o.arm64.v1.22.2.tar.gz.sha256sum" in err.value.message
    assert "gave up after retries: HTTP 503" in err.value.message
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs_emulator.url)
    storage = open_bucket(url)
    assert storage.read("latest-1.22.txt")[0] == b"v1.22.1\n"
    assert storage.stat("artifacts/cri-o.v1.22.2.manifest.json") is None      # the manifest goes last
    assert storage.stat("artifacts/cri-o.amd64.v1.22.2.tar.gz") is not None   # others went up
