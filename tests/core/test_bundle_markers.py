"""Upstream's `latest-bundle-<revision>.txt` markers: their names, which a publish moves, how they are read."""

from __future__ import annotations

import pytest

from crio import artifacts as a
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker, tag_series_of
from crio.revision import parse_revision

SHA = "89abcdef0123456789abcdef0123456789abcdef"


def test_names_are_upstreams() -> None:
    assert a.BUNDLE_MAIN_MARKER == "latest-bundle-main.txt"
    assert a.release_branch_bundle_marker("1.36") == "latest-bundle-release-1.36.txt"
    assert a.release_branch_bundle_marker(parse_revision("v1.9.2").version) == "latest-bundle-release-1.9.txt"
    assert a.tag_bundle_marker("v1.36.3") == "latest-bundle-v1.36.3.txt"
    assert a.tag_bundle_marker("1.100.0") == "latest-bundle-v1.100.0.txt"
    with pytest.raises(CrioError, match="needs a version tag"):
        a.tag_bundle_marker(SHA)


@pytest.mark.parametrize(("rev", "branch", "markers"), [
    ("v1.22.3", None, ["latest-1.22.txt", "latest-bundle-v1.22.3.txt"]),
    ("v1.22.3", "release-1.22", ["latest-1.22.txt", "latest-bundle-v1.22.3.txt"]),
    ("v1.22.0-rc.1", None, []),  # pre-releases move no marker, ours or upstream's
    (SHA, "main", ["latest-main.txt", "latest-bundle-main.txt"]),
    (SHA, "release-1.22", ["latest-release-1.22.txt", "latest-bundle-release-1.22.txt"]),
    (SHA, "feature/x", []),
    (SHA, None, []),
])
def test_a_publish_moves_upstreams_markers_beside_ours(rev: str, branch: str | None, markers: list[str]) -> None:
    revision = parse_revision(rev)
    assert [m.marker for m in a.publish_markers_for(revision, branch)] == markers
    # ours are unchanged: the bundle markers come only through bundle_markers_for
    assert [m.marker for m in a.markers_for(revision, branch)] == [m for m in markers if "bundle" not in m]


def test_bundle_marker_tag_is_read_from_the_name_only_for_tag_markers() -> None:
    assert a.bundle_marker_tag("latest-bundle-v1.36.3.txt") == "v1.36.3"
    assert a.bundle_marker_tag("latest-bundle-v1.36.0-rc.1.txt") == "v1.36.0-rc.1"
    for name in ("latest-bundle-main.txt", "latest-bundle-release-1.36.txt", "latest-1.36.txt",
                 "latest-bundle-v1.36.txt", "latest-bundle-vgarbage.txt", "latest-bundle-v1.36.3"):
        assert a.bundle_marker_tag(name) is None, name


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("latest-bundle-main.txt", f"{SHA}\n".encode(), SHA),
    ("latest-bundle-main.txt", b"v1.36.3\n", "v1.36.3"),  # like latest-main.txt: any revision
    ("latest-bundle-release-1.36.txt", f" {SHA} \n".encode(), SHA),
    ("latest-bundle-v1.36.3.txt", b"v1.36.3\n", "v1.36.3"),
])
def test_bundle_markers_are_read_by_the_one_rule(name: str, data: bytes, expected: str) -> None:
    assert tag_series_of(name) is None
    assert str(read_marker(data, name)) == expected


@pytest.mark.parametrize(("name", "data", "message"), [
    ("latest-bundle-v1.36.3.txt", b"v1.36.2\n", "not the tag v1.36.3 it is named after"),
    ("latest-bundle-v1.36.3.txt", f"{SHA}\n".encode(), "not the tag v1.36.3"),
    ("latest-bundle-main.txt", b"<html>404</html>", "HTML page"),
    ("latest-bundle-main.txt", b"", "empty"),
])
def test_bundle_markers_that_name_something_else_are_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(CrioError, match=message) as info:
        read_marker(data, name)
    assert info.value.exit_code == ExitCode.RESOLUTION
