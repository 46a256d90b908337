"""The storage layer: URL parsing, create-only and compare-and-swap on real backends (fake-gcs-server, file://)."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.publish.storage import Digests, PreconditionFailed, open_bucket
from crio_release.publish.storage_file import FileStorage
from crio_release.publish.storage_gcs import GcsStorage

from crio.errors import CrioError, ExitCode


@pytest.mark.parametrize("url", ["s3://bucket", "http://example.invalid/x", "bucket", "", "ftp:///x"])
def test_unknown_scheme_is_a_bucket_url_error(url: str) -> None:
    with pytest.raises(CrioError) as err:
        open_bucket(url)
    assert err.value.exit_code == ExitCode.BUCKET_URL
    assert "gs://BUCKET[/PREFIX] or file:///" in err.value.message


@pytest.mark.parametrize("url", ["gs://UPPER", "gs://a", "gs://bucket/../x", "file://host/dir", "file:relative"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(CrioError) as err:
        open_bucket(url)
    assert err.value.exit_code == ExitCode.BUCKET_URL


def test_backends_and_public_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcs = open_bucket("gs://cri-o/staging/x")
    assert isinstance(gcs, GcsStorage) and gcs.prefix == "staging/x"
    assert gcs.public_url("latest-main.txt") == "https://storage.googleapis.com/cri-o/staging/x/latest-main.txt"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    assert open_bucket("gs://cri-o").public_url("a/b") == "http://127.0.0.1:9/cri-o/a/b"
    local = open_bucket(tmp_path.as_uri())
    assert isinstance(local, FileStorage) and local.root == tmp_path
    assert local.public_url("artifacts/x") == f"{tmp_path.as_uri()}/artifacts/x"


def _put(storage, path: str, data: bytes, generation: int) -> None:
    storage.write_bytes(path, data, content_type="text/plain", cache_control="no-cache", if_generation_match=generation)


def test_create_only_and_compare_and_swap(cas_bucket: str, tmp_path: Path) -> None:
    storage = open_bucket(cas_bucket)
    storage.check()
    assert storage.stat("latest-main.txt") is None
    _put(storage, "latest-main.txt", b"one\n", 0)
    first = storage.stat("latest-main.txt")
    assert first is not None and first.generation > 0 and first.size == 4
    with pytest.raises(PreconditionFailed):
        _put(storage, "latest-main.txt", b"two\n", 0)            # create-only
    with pytest.raises(PreconditionFailed):
        _put(storage, "latest-main.txt", b"two\n", first.generation + 1)  # stale CAS
    data, info = storage.read("latest-main.txt")
    assert data == b"one\n" and info.generation == first.generation
    _put(storage, "latest-main.txt", b"two\n", first.generation)
    data, second = storage.read("latest-main.txt")
    assert data == b"two\n" and second.generation > first.generation
    assert second.cache_control == "no-cache" and second.content_type == "text/plain"

    source = tmp_path / "f.tar.gz"
    source.write_bytes(b"x" * 5000)
    digests = Digests.of_file(source)
    storage.upload_file("artifacts/f.tar.gz", source, digests=digests, content_type="application/gzip",
                        cache_control="public", if_generation_match=0)
    stored = storage.stat("artifacts/f.tar.gz")
    assert stored.sha256 == digests.sha256 and stored.crc32c == digests.crc32c and stored.matches(digests)
    with pytest.raises(PreconditionFailed):
        storage.upload_file("artifacts/f.tar.gz", source, digests=digests, content_type="application/gzip",
                            cache_control="public", if_generation_match=0)
    assert [o.path for o in storage.list("latest-", recursive=False)] == ["latest-main.txt"]
    assert [o.path for o in storage.list("artifacts/")] == ["artifacts/f.tar.gz"]
    assert [o.path for o in storage.list("", recursive=False)] == ["latest-main.txt"]
    out = tmp_path / "down"
    storage.download("artifacts/f.tar.gz", out)
    assert out.read_bytes() == source.read_bytes()


def test_file_backend_makes_no_file_on_reads_and_public_permissions(tmp_path: Path) -> None:
    storage = open_bucket(tmp_path.as_uri())
    assert storage.stat("latest-main.txt") is None and storage.list() == [] and storage.read("x") is None
    assert list(tmp_path.iterdir()) == []
    _put(storage, "latest-main.txt", b"v\n", 0)
    assert (tmp_path / "latest-main.txt").stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_missing_file_bucket_directory(tmp_path: Path) -> None:
    with pytest.raises(CrioError) as err:
        open_bucket((tmp_path / "absent").as_uri()).check()
    assert err.value.exit_code == ExitCode.BUCKET_URL
