"""The bucket contract: names, markers, which markers a revision moves, URLs."""

from __future__ import annotations

import pytest

from crio import artifacts as a
from crio.errors import CrioError, ExitCode, UnsupportedArchitecture
from crio.revision import parse_revision

SHA = "89abcdef0123456789abcdef0123456789abcdef"


def test_tarball_and_side_file_names() -> None:
    assert a.tarball_name("amd64", "v1.21.0") == "cri-o.amd64.v1.21.0.tar.gz"
    assert a.tarball_name("x86_64", "1.21.0") == "cri-o.amd64.v1.21.0.tar.gz"
    assert a.tarball_name("aarch64", SHA) == f"cri-o.arm64.{SHA}.tar.gz"
    assert a.checksum_name("arm64", "v1.21.0") == "cri-o.arm64.v1.21.0.tar.gz.sha256sum"
    assert a.signature_name("arm64", "v1.21.0") == "cri-o.arm64.v1.21.0.tar.gz.sig"
    assert a.sbom_name("arm64", "v1.21.0") == "cri-o.arm64.v1.21.0.tar.gz.spdx"
    assert a.sbom_signature_name("arm64", "v1.21.0") == "cri-o.arm64.v1.21.0.tar.gz.spdx.sig"
    assert a.manifest_name(SHA) == f"cri-o.{SHA}.manifest.json"
    assert a.object_path(a.tarball_name("s390x", "v1.9.0")) == "artifacts/cri-o.s390x.v1.9.0.tar.gz"
    files = a.arch_files("ppc64le", "v1.30.2")
    assert set(a.REQUIRED_ROLES) | set(a.OPTIONAL_ROLES) == set(files)
    assert all(name.startswith("cri-o.ppc64le.v1.30.2.tar.gz") for name in files.values())


@pytest.mark.parametrize("bad", ["", "../x", "v1.21", "abc123"])
def test_names_refuse_invalid_revisions(bad: str) -> None:
    with pytest.raises(CrioError):
        a.tarball_name("amd64", bad)


def test_names_refuse_unknown_architectures() -> None:
    with pytest.raises(UnsupportedArchitecture):
        a.tarball_name("mips", "v1.21.0")


@pytest.mark.parametrize("bad", ["a/b", "", "..", "."])
def test_object_path_takes_plain_names_only(bad: str) -> None:
    with pytest.raises(CrioError):
        a.object_path(bad)


def test_marker_names() -> None:
    assert a.MAIN_MARKER == "latest-main.txt"
    assert a.tag_marker("1.21") == "latest-1.21.txt"
    assert a.tag_marker(parse_revision("v1.100.2").version) == "latest-1.100.txt"
    assert a.release_branch_marker("1.9") == "latest-release-1.9.txt"
    assert a.release_branch("v1.22") == "release-1.22"
    assert a.marker_for_request(None) == "latest-bundle-main.txt"
    assert a.marker_for_request("v1.21") == "latest-1.21.txt"
    with pytest.raises(CrioError):
        a.marker_for_request("v1.21.0")


def test_request_markers_prefer_upstreams_bundle_markers() -> None:
    assert a.request_markers(None) == a.request_markers("") == ("latest-bundle-main.txt", "latest-main.txt")
    assert a.request_markers("release-1.36") == ("latest-bundle-release-1.36.txt", "latest-release-1.36.txt")
    assert a.request_markers("release-v1.9") == ("latest-bundle-release-1.9.txt", "latest-release-1.9.txt")
    assert a.request_markers("v1.21") == a.request_markers("1.21") == ("latest-1.21.txt", None)
    for bad in ("release-x", "release-", "release-1.36.0", "release-01.36", "v1.21.0", "main"):
        with pytest.raises(CrioError) as info:
            a.request_markers(bad)
        assert info.value.exit_code == ExitCode.USAGE, bad
    assert [a.is_channel_request(r) for r in (None, "", "v1.21", "release-x", "v1.21.0", "main")] == \
        [True, True, True, True, False, False]


@pytest.mark.parametrize(("rev", "branch", "markers"), [
    ("v1.22.3", None, ["latest-1.22.txt"]),
    ("v1.22.3", "release-1.22", ["latest-1.22.txt"]),
    ("v1.22.0-rc.1", None, []),
    (SHA, "main", ["latest-main.txt"]),
    (SHA, "release-1.22", ["latest-release-1.22.txt"]),
    (SHA, "feature/x", []),
    (SHA, None, []),
])
def test_which_markers_a_revision_moves(rev: str, branch: str | None, markers: list[str]) -> None:
    assert [m.marker for m in a.markers_for(parse_revision(rev), branch)] == markers


def test_public_urls_are_derived_in_one_place() -> None:
    base = a.public_base_url("cri-o")
    assert base == "https://storage.googleapis.com/cri-o"
    assert a.public_base_url("gs://my-bucket") == "https://storage.googleapis.com/my-bucket"
    assert a.artifact_url(base, a.tarball_name("amd64", "v1.21.0")) == (
        "https://storage.googleapis.com/cri-o/artifacts/cri-o.amd64.v1.21.0.tar.gz")
    assert a.object_url("file:///srv/mirror/", a.MAIN_MARKER) == "file:///srv/mirror/latest-main.txt"
    links = a.download_links(base, "v1.21.0", ("amd64", "arm64"))
    assert links["arm64"]["sbom"].endswith("artifacts/cri-o.arm64.v1.21.0.tar.gz.spdx")


@pytest.mark.parametrize("bad", ["", "ab", "Cri-O", "a/b", "-bucket", "bucket-", "a..b", "x" * 64, "cri o"])
def test_bucket_names_are_validated(bad: str) -> None:
    with pytest.raises(CrioError) as info:
        a.public_base_url(bad)
    assert "expected 3-63 lowercase letters" in info.value.message
