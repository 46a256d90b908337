"""The formats crio/ owns for the installers: in-bundle manifest, install record, tarball names, release branches."""

from __future__ import annotations

import pytest

from crio.artifacts import markers_for, parse_release_branch, parse_tarball_name
from crio.bundle_manifest import BundleComponent, BundleFile, BundleManifest
from crio.errors import CrioError, ExitCode
from crio.record import Kind, Record, RecordRow, format_row, parse_record
from crio.revision import parse_revision

HEX = "ab" * 32


def test_bundle_manifest_round_trips_and_lists_files_by_path() -> None:
    manifest = BundleManifest("v1.21.0", "1.21.0", "amd64", 7,
                              [BundleComponent("crio", "1.21.0", "Apache-2.0", None, "bin/crio", "0755",
                                               {"kind": "path"})],
                              [BundleFile("etc/b", HEX, 1, "0644", "b"), BundleFile("bin/a", "cd" * 32, 2, "0755", "a")])
    text = manifest.to_json()
    assert text.index('"bin/a"') < text.index('"etc/b"'), "files are written sorted by path"
    again = BundleManifest.from_json(text)
    assert again.components == manifest.components and again.source_date_epoch == 7
    assert again.sha256_by_path() == {"bin/a": "cd" * 32, "etc/b": HEX}


@pytest.mark.parametrize("text", ['{"files": []}', '{"files": {}}', '[]', '{"files": [{"path": "../x", '
                                  f'"sha256": "{HEX}"}}]}}'])
def test_bad_bundle_manifest_is_a_verification_error(text: str) -> None:
    with pytest.raises(CrioError) as info:
        BundleManifest.from_json(text)
    assert info.value.exit_code == ExitCode.VERIFICATION


def test_record_round_trips_with_metadata_first() -> None:
    record = Record([RecordRow("/usr/bin/crio", HEX, "0755", Kind.FILE), RecordRow("/etc/crio", "-", "0755", Kind.DIR)],
                    {"format": "1", "revision": "v1.21.0"})
    text = record.format()
    assert text.startswith("#format\t1\n#revision\tv1.21.0\n/usr/bin/crio\t")
    assert parse_record(text) == record


def test_bad_record_row_is_an_install_error() -> None:
    with pytest.raises(CrioError) as info:
        parse_record("/a\tx\t0644\tfile\nrelative\tx\t0644\tfile\n")
    assert info.value.exit_code == ExitCode.INSTALL and "line 2" in info.value.message
    with pytest.raises(CrioError):
        format_row("/a", "-", "0644", "file")


def test_tarball_names_parse_back_with_the_documented_codes() -> None:
    assert parse_tarball_name("cri-o.x86_64.1.21.0.tar.gz") == ("amd64", parse_revision("v1.21.0"))
    for name, code in [("cri-o.sparc.v1.21.0.tar.gz", ExitCode.UNSUPPORTED_ARCH),
                       ("cri-o.amd64.v1.21.tar.gz", ExitCode.USAGE), ("crio.tar.gz", ExitCode.USAGE)]:
        with pytest.raises(CrioError) as info:
            parse_tarball_name(name)
        assert info.value.exit_code == code


def test_release_branches() -> None:
    assert parse_release_branch("release-1.22") == (1, 22)
    assert parse_release_branch("main") is None and parse_release_branch("release-x") is None
    assert [m.marker for m in markers_for(parse_revision("a" * 40), "release-1.22")] == ["latest-release-1.22.txt"]
    with pytest.raises(CrioError):
        markers_for(parse_revision("a" * 40), "release-next")
