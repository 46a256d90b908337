"""Upstream's `latest-bundle-*` markers written by publish beside ours, under the same rules.

Forward only (commits by git ancestry, a tag's marker only ever its tag),
only for complete sets, and by compare-and-swap like every marker.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import publish_revision
from crio_release.publish.storage import open_bucket
from helpers.publish import bucket_state, make_revision_set

from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision


def _marker(url: str, name: str) -> str | None:
    found = open_bucket(url).read(name)
    return None if found is None else found[0].decode().strip()


def _commits(path: Path, count: int = 3) -> list[str]:
    git = ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.invalid",
           "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    shas = []
    for i in range(count):
        (path / "f").write_text(str(i))
        subprocess.run([*git, "add", "f"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"c{i}"], check=True)
        shas.append(subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                                   text=True).stdout.strip())
    return shas


def test_main_and_release_branch_bundle_markers_move_forward_only(cas_bucket: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    a, b, c = _commits(repo)
    sets = {sha: make_revision_set(tmp_path / sha, sha) for sha in (a, b, c)}
    report = publish_revision(cas_bucket, parse_revision(b), sets[b], branch="main", repo=repo)
    assert [(m.marker, m.outcome) for m in report.markers] == [("latest-main.txt", "moved"),
                                                               ("latest-bundle-main.txt", "moved")]
    assert _marker(cas_bucket, "latest-bundle-main.txt") == b  # the name the tarballs carry: the commit
    older = publish_revision(cas_bucket, parse_revision(a), sets[a], branch="main", repo=repo)
    assert [m.outcome for m in older.markers] == ["newer", "newer"]
    assert _marker(cas_bucket, "latest-bundle-main.txt") == b
    publish_revision(cas_bucket, parse_revision(c), sets[c], branch="main", repo=repo)
    assert _marker(cas_bucket, "latest-bundle-main.txt") == c
    publish_revision(cas_bucket, parse_revision(a), sets[a], branch="release-1.22", repo=repo)
    assert _marker(cas_bucket, "latest-bundle-release-1.22.txt") == a
    assert {s.marker: (s.revision, s.complete) for s in read_markers(cas_bucket)} == {
        "latest-main.txt": (c, True), "latest-bundle-main.txt": (c, True),
        "latest-release-1.22.txt": (a, True), "latest-bundle-release-1.22.txt": (a, True)}


def test_a_commit_on_another_branch_moves_no_bundle_marker(file_bucket: str, tmp_path: Path) -> None:
    [sha] = _commits(tmp_path / "repo", 1)
    report = publish_revision(file_bucket, parse_revision(sha), make_revision_set(tmp_path / "set", sha))
    assert report.markers == [] and read_markers(file_bucket) == []


def test_each_tag_gets_its_own_bundle_marker_and_a_wrong_one_stops_the_publish(file_bucket: str,
                                                                                tmp_path: Path) -> None:
    for patch in (2, 1):  # an older tag after a newer: latest-1.22.txt stays, each tag still has its own marker
        rev = parse_revision(f"v1.22.{patch}")
        publish_revision(file_bucket, rev, make_revision_set(tmp_path / str(rev), rev))
    assert _marker(file_bucket, "latest-1.22.txt") == "v1.22.2"
    assert _marker(file_bucket, "latest-bundle-v1.22.1.txt") == "v1.22.1"
    assert _marker(file_bucket, "latest-bundle-v1.22.2.txt") == "v1.22.2"
    # A bundle marker that names another tag was not written by us: a person must look first.
    storage = open_bucket(file_bucket)
    generation = storage.stat("latest-bundle-v1.22.1.txt").generation
    storage.write_bytes("latest-bundle-v1.22.1.txt", b"v1.22.2\n", content_type="text/plain",
                        cache_control="no-cache", if_generation_match=generation)
    before = bucket_state(file_bucket)
    with pytest.raises(CrioError) as err:
        publish_revision(file_bucket, parse_revision("v1.22.1"), tmp_path / "v1.22.1")
    assert err.value.exit_code == ExitCode.MARKER and "not the tag v1.22.1 it is named after" in err.value.message
    assert bucket_state(file_bucket) == before
