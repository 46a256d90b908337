"""manifest.json checked while crio-get streams the bundle, and --verified-tarball handed to install scripts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from crio_installer.extract import StreamingExtractor, UnsafeArchive
from helpers.bundle_install import BUNDLE_FILES
from helpers.get_fixtures import INSTALLERS, bundle_files, run_get, snapshot, write_side_files, write_tarball

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR, tarball_name
from crio.errors import ExitCode

TAG = "v1.0.0"
CRIO = b"#!/bin/sh\necho crio\n"


def _manifest(files: dict[str, tuple[bytes, int]], **override: str) -> bytes:
    listed = [{"path": name, "sha256": override.get(name, hashlib.sha256(data).hexdigest())}
              for name, (data, _) in sorted(files.items())]
    return json.dumps({"files": listed}, indent=2).encode()


def _extract(tmp_path: Path, files: dict[str, tuple[bytes, int]]) -> StreamingExtractor:
    tarball = write_tarball(tmp_path / "b.tar.gz", files)
    extractor = StreamingExtractor(tmp_path / "staging")
    extractor.feed(tarball.read_bytes())
    extractor.finish()
    return extractor


def test_every_listed_file_is_checked_while_extracting(tmp_path: Path) -> None:
    files = bundle_files(TAG)
    files["manifest.json"] = (_manifest(files), 0o644)
    assert _extract(tmp_path, files).manifest_checked
    assert (tmp_path / "staging/cri-o/bin/crio").read_bytes() == files["bin/crio"][0]


def test_bundle_without_manifest_is_extracted_unchecked(tmp_path: Path) -> None:
    assert not _extract(tmp_path, bundle_files(TAG)).manifest_checked


@pytest.mark.parametrize(("change", "message"), [
    ("wrong-hash", "bin/crio does not match manifest.json"),
    ("missing", "bin/gone is listed in manifest.json but missing"),
    ("not-a-manifest", "manifest.json is not a bundle manifest"),
])
def test_manifest_mismatch_is_refused(tmp_path: Path, change: str, message: str) -> None:
    files = bundle_files(TAG)
    if change == "wrong-hash":
        manifest = _manifest(files, **{"bin/crio": "0" * 64})
    elif change == "missing":
        manifest = _manifest({**files, "bin/gone": (b"x", 0o755)})
    else:
        manifest = b'{"components": []}'
    files["manifest.json"] = (manifest, 0o644)
    with pytest.raises(UnsafeArchive, match=message) as info:
        _extract(tmp_path, files)
    assert info.value.exit_code == ExitCode.VERIFICATION


def _real_bundle(directory: Path, *, tamper: bool = False) -> Path:
    """A bundle carrying the real in-bundle install script and a manifest.json (optionally lying about bin/crio)."""
    files: dict[str, tuple[bytes, int]] = {}
    for path in sorted(p for p in BUNDLE_FILES.rglob("*") if p.is_file()):
        files[path.relative_to(BUNDLE_FILES).as_posix()] = (path.read_bytes(), 0o755 if path.name == "install" else 0o644)
    files["bin/crio"] = (CRIO, 0o755)
    files["manifest.json"] = (_manifest(files, **({"bin/crio": "1" * 64} if tamper else {})), 0o644)
    directory.mkdir(parents=True)
    tarball = write_tarball(directory / tarball_name("amd64", TAG), files)
    write_side_files(tarball)
    return tarball


@pytest.mark.parametrize("installer", INSTALLERS)
def test_only_crio_get_hands_over_the_verified_digest(installer: str, tmp_path: Path) -> None:
    """crio-get hashed every member while extracting, so the install script need not; scripts/get did not."""
    tarball = _real_bundle(tmp_path / "b")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    destdir = tmp_path / "dest"
    result = run_get(installer, ["-f", str(tarball)], destdir=destdir, tmpdir=tmp_path / "tmp", in_process=False)
    assert result.returncode == 0, result.stderr
    handed_over = f"files verified by the caller: tarball sha256 {digest}" in result.stdout
    assert handed_over == (installer == "python")
    assert (destdir / "usr/local/bin/crio").read_bytes() == CRIO
    record = (destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_text()
    assert f"/usr/local/bin/crio\t{hashlib.sha256(CRIO).hexdigest()}\t" in record


@pytest.mark.parametrize("installer", INSTALLERS)
def test_both_installers_refuse_a_bundle_whose_manifest_lies(installer: str, tmp_path: Path) -> None:
    """A signed tarball whose inner manifest disagrees with a file (a builder bug) installs under neither."""
    tarball = _real_bundle(tmp_path / "b", tamper=True)
    destdir = tmp_path / "dest"
    destdir.mkdir()
    result = run_get(installer, ["-f", str(tarball)], destdir=destdir, tmpdir=tmp_path / "tmp")
    assert result.returncode == ExitCode.VERIFICATION, result.stderr
    assert "bin/crio does not match manifest.json" in result.stderr
    assert snapshot(destdir) == {}


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("absolute", [False, True], ids=["relative-link", "absolute-link"])
def test_a_link_then_a_file_through_it_writes_nothing_outside(installer: str, absolute: bool,
                                                              tmp_path: Path) -> None:
    """scripts/get now extracts before it checks the listing: tar itself must not write through a link out."""
    escape = tmp_path / "escape"
    escape.mkdir()
    target = str(escape) if absolute else "../../../../escape"   # from TMPDIR/crio-get.X/staging/cri-o/
    directory = tmp_path / "b"
    directory.mkdir()
    tarball = directory / tarball_name("amd64", TAG)
    with gzip.open(tarball, "wb") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, (data, mode) in sorted(bundle_files(TAG).items()):
            info = tarfile.TarInfo(f"cri-o/{name}")
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("cri-o/out")
        link.type, link.linkname = tarfile.SYMTYPE, target
        tf.addfile(link)
        payload = tarfile.TarInfo("cri-o/out/pwned")
        payload.size = 3
        tf.addfile(payload, io.BytesIO(b"owned"[:3]))
    write_side_files(tarball)
    destdir = tmp_path / "dest"
    destdir.mkdir()
    result = run_get(installer, ["-f", str(tarball)], destdir=destdir, tmpdir=tmp_path / "tmp")
    assert result.returncode == ExitCode.VERIFICATION, result.stderr
    assert list(escape.iterdir()) == []
    assert snapshot(destdir) == {}
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_gzip_crc_error_is_refused_with_nothing_installed(installer: str, tmp_path: Path) -> None:
    """The decompressor's failure counts even when tar saw a complete archive (one pass, pipefail)."""
    tarball = write_tarball(tmp_path / tarball_name("amd64", TAG), bundle_files(TAG))
    data = bytearray(tarball.read_bytes())
    data[-6] ^= 0xFF          # inside the gzip trailer's CRC32
    tarball.write_bytes(bytes(data))
    write_side_files(tarball)
    destdir = tmp_path / "dest"
    destdir.mkdir()
    result = run_get(installer, ["-f", str(tarball)], destdir=destdir, tmpdir=tmp_path / "tmp")
    assert result.returncode == ExitCode.VERIFICATION, result.stderr
    assert "crc" in result.stderr.lower()
    assert snapshot(destdir) == {}
