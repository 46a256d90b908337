"""The embedded spec builds amd64 + arm64 reproducibly, and what it writes is complete and consistent."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from crio_release.build.bundle import EMBEDDED_SPEC, build_bundles
from crio_release.build.spec import load_spec
from helpers.bundles import EPOCH, REV, make_embedded_bundles

from crio.artifacts import BUNDLE_MANIFEST, checksum_name, manifest_name, sbom_name, tarball_name
from crio.manifest import RevisionManifest
from crio.version import version


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("embedded")
    make_embedded_bundles(out, REV)
    return out


def test_embedded_spec_versions_follow_crio_version() -> None:
    spec = load_spec(EMBEDDED_SPEC)
    assert {c.version for c in spec.components} == {str(version())}
    assert spec.components[0].name == "crio-status"


def test_writes_every_artifact_and_nothing_else(built: Path) -> None:
    expected = {manifest_name(REV)}
    for arch in ("amd64", "arm64"):
        expected |= {tarball_name(arch, REV), checksum_name(arch, REV), sbom_name(arch, REV)}
    assert {p.name for p in built.iterdir()} == expected


def test_revision_manifest_matches_files(built: Path) -> None:
    manifest = RevisionManifest.from_json((built / manifest_name(REV)).read_text())
    assert manifest.architectures == ["amd64", "arm64"]
    for entry in manifest.files:
        assert (built / entry.name).stat().st_size == entry.size
    assert {e.role for e in manifest.files} == {"tarball", "checksum", "sbom"}


def test_sha256sum_file_verifies_with_coreutils(built: Path) -> None:
    for arch in ("amd64", "arm64"):
        out = subprocess.run(["sha256sum", "-c", checksum_name(arch, REV)], cwd=built, capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == f"{tarball_name(arch, REV)}: OK"


def test_tar_listing_owner_root_and_sorted(built: Path) -> None:
    listing = subprocess.run(["tar", "-tzvf", str(built / tarball_name("arm64", REV))], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    names = [line.split()[-1] for line in listing]
    assert all(line.split()[1] == "0/0" for line in listing)
    body = [n for n in names if n != f"cri-o/{BUNDLE_MANIFEST}"]
    assert body == sorted(body, key=lambda n: n.rstrip("/").split("/"))
    assert names[-1] == f"cri-o/{BUNDLE_MANIFEST}"
    assert {"cri-o/install", "cri-o/Makefile", "cri-o/README.md", "cri-o/bin/crio-status"} <= set(names)
    assert "cri-o/contrib/crio.service" in names


def test_in_bundle_manifest_lists_every_file_with_hash_and_mode(built: Path) -> None:
    with tarfile.open(built / tarball_name("amd64", REV)) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile(f"cri-o/{BUNDLE_MANIFEST}"))  # type: ignore[arg-type]
        import hashlib

        listed = {f["path"]: f for f in manifest["files"]}
        assert set(listed) == {n.removeprefix("cri-o/") for n in members} - {BUNDLE_MANIFEST}
        for path, entry in listed.items():
            data = tar.extractfile(f"cri-o/{path}").read()  # type: ignore[union-attr]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert entry["size"] == len(data)
            assert int(entry["mode"], 8) == members[f"cri-o/{path}"].mode
    assert manifest["revision"] == str(REV) and manifest["arch"] == "amd64"
    assert manifest["version"] == str(version())
    assert manifest["components"][0]["name"] == "crio-status"
    assert listed["install"]["mode"] == "0755" and listed["bin/crio-status"]["mode"] == "0755"
    assert listed["contrib/crio.service"]["mode"] == "0644"
    assert list(listed) == sorted(listed)


def test_gzip_header_has_no_name_and_no_mtime(built: Path) -> None:
    head = (built / tarball_name("amd64", REV)).read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08"
    assert head[3] == 0            # no FNAME / FEXTRA / FCOMMENT flags
    assert head[4:8] == b"\0\0\0\0"  # mtime 0


def test_crio_status_zipapp_runs_without_site_packages(built: Path, tmp_path: Path) -> None:
    with tarfile.open(built / tarball_name("amd64", REV)) as tar:
        tar.extractall(tmp_path, filter="data")
    app = tmp_path / "cri-o" / "bin" / "crio-status"
    out = subprocess.run([sys.executable, "-I", "-S", str(app), "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"crio-status version {version()}"
    stamp = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         "import sys, json, dataclasses; sys.path.insert(0, sys.argv[1]); from crio.version import build_info; "
         "print(json.dumps(dataclasses.asdict(build_info())))", str(app)],
        capture_output=True, text=True, check=True)
    info = json.loads(stamp.stdout)
    assert info["git_commit"] == str(REV)
    assert info["platform"] == "linux/amd64"
    assert info["build_date"] == "2023-11-14T22:13:20Z"


def test_rebuild_is_byte_identical(built: Path, tmp_path: Path) -> None:
    again = make_embedded_bundles(tmp_path, REV)
    for written in again.written():
        assert written.path.read_bytes() == (built / written.name).read_bytes(), written.name


def test_changed_epoch_changes_output(built: Path, tmp_path: Path) -> None:
    other = build_bundles(None, ["amd64"], REV, tmp_path, source_date_epoch=EPOCH + 1)
    assert other.bundles["amd64"].tarball.sha256 != \
        subprocess.run(["sha256sum", str(built / tarball_name("amd64", REV))], capture_output=True, text=True,
                       check=True).stdout.split()[0]


def test_sbom_parses_and_validates_with_spdx_tools(built: Path) -> None:
    from spdx_tools.spdx.model import ChecksumAlgorithm, RelationshipType
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = parse_file(str(built / sbom_name("amd64", REV)))
    assert validate_full_spdx_document(document, "SPDX-2.3") == []
    packages = {p.name: p for p in document.packages}
    assert set(packages) == {"cri-o", "crio-status", "contrib-configs", "etc-configs", "man-pages", "completions"}
    assert str(packages["crio-status"].license_declared) == "Apache-2.0 AND BSD-3-Clause"
    assert packages["crio-status"].version == str(version())
    tar_sha = (built / checksum_name("amd64", REV)).read_text().split()[0]
    assert packages["cri-o"].checksums[0].value == tar_sha
    with tarfile.open(built / tarball_name("amd64", REV)) as tar:
        names = {f"./{m.name}" for m in tar.getmembers() if m.isfile()}
    assert {f.name for f in document.files} == names
    for spdx_file in document.files:
        assert {c.algorithm for c in spdx_file.checksums} == {ChecksumAlgorithm.SHA1, ChecksumAlgorithm.SHA256}
    contains = [r for r in document.relationships if r.relationship_type == RelationshipType.CONTAINS]
    assert len(contains) == len(names) + len(packages) - 1
    assert document.creation_info.created.year == 2023   # from the epoch, not the clock


def test_gzip_stream_is_valid_for_gzip_and_pigz(built: Path) -> None:
    tarball = str(built / tarball_name("arm64", REV))
    subprocess.run(["gzip", "-t", tarball], check=True)
    gz = subprocess.run(["gzip", "-dc", tarball], capture_output=True, check=True).stdout
    pz = subprocess.run(["pigz", "-dc", tarball], capture_output=True, check=True).stdout
    assert gz == pz and len(gz) % 10240 == 0


def test_progress_bars_and_plain_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    build_bundles(None, ["arm64"], REV, tmp_path / "a", source_date_epoch=EPOCH, progress=True, on_event=lines.append)
    assert "arm64" in capsys.readouterr().err          # the tqdm bar
    assert len(lines) == 1 and lines[0].startswith("arm64: ") and "bytes compressed" in lines[0]
