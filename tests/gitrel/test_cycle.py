"""The scripted release cycle of the issue, through the crio-release CLI, pushing to a bare origin."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.gitrel import crio_release, git, make_origin_and_clone, merge_pr, release_note, squash_pr


def ref_map(repo: Path) -> dict[str, str]:
    return {name: sha for name, sha in (line.split() for line in
            git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines())}


def version_on(repo: Path, ref: str) -> str:
    return git(repo, "show", f"{ref}:crio/VERSION")


def ok(*args: str) -> str:
    res = crio_release(*args)
    assert res.code == 0, res.err
    return res.out


def test_release_cycle_pushes_to_origin(tmp_path: Path) -> None:
    remote = make_origin_and_clone(tmp_path, "1.22.0")
    repo, origin = remote.clone, remote.origin
    r = ["--repo", str(repo), "--push"]

    ok("branch", "cut", "1.22", *r)
    assert ref_map(origin)["refs/heads/release-1.22"] == git(repo, "rev-parse", "main")

    for n in (1, 2):
        squash_pr(repo, 10 + n, "bob", f"feat: main work {n}", f"feature{n}.txt", f"{n}\n",
                  release_note(f"Main feature {n}."))
        git(repo, "push", "-q", "origin", "main")
        ok("forward", *r)
        assert ref_map(origin)["refs/heads/release-1.22"] == git(repo, "rev-parse", "main")

    release_head = git(repo, "rev-parse", "release-1.22")
    ok("tag", "v1.22.0", *r)
    origin_refs = ref_map(origin)
    assert git(origin, "rev-parse", "v1.22.0^{commit}") == release_head
    assert git(origin, "cat-file", "-t", "v1.22.0") == "tag"  # annotated
    assert version_on(origin, "main") == "1.23.0"
    assert git(origin, "rev-list", "--count", f"{release_head}..main") == "1"  # one commit moves main
    assert version_on(origin, "release-1.22") == "1.22.0"
    assert (repo / "crio/VERSION").read_text() == "1.23.0\n"  # checked-out main followed

    squash_pr(repo, 20, "carol", "feat: only for 1.23", "after.txt", "x\n", release_note("Only in 1.23."))
    git(repo, "push", "-q", "origin", "main")
    out = ok("forward", *r)
    assert "v1.22.0 exists" in out
    assert ref_map(origin)["refs/heads/release-1.22"] == origin_refs["refs/heads/release-1.22"]

    git(repo, "checkout", "-q", "release-1.22")
    merge_pr(repo, 101, "alice", "fix-leak", "leak.txt", "fixed\n",
             "Fix a memory leak in the image puller\n\n" + release_note("Fixed a memory leak when pulling images.",
                                                                         "bug"))
    git(repo, "push", "-q", "origin", "release-1.22")
    git(repo, "checkout", "-q", "main")

    ok("patch", "1.22", *r)
    assert version_on(origin, "release-1.22") == "1.22.1"
    assert git(origin, "log", "-1", "--format=%s", "release-1.22") == \
        "Bump version to 1.22.1 for the next patch release of 1.22"
    ok("tag", "v1.22.1", *r)
    assert git(origin, "rev-parse", "v1.22.1^{commit}") == git(origin, "rev-parse", "release-1.22")
    assert version_on(origin, "main") == "1.23.0"  # a patch tag never moves main

    notes = json.loads(ok("notes", "--repo", str(repo), "--from", "v1.22.0", "--to", "v1.22.1", "--json",
                          "--downloads", "contract"))
    assert [(n["text"], n["pr"], n["author"], n["kind"]) for n in notes["notes"]] == [
        ("Fixed a memory leak when pulling images.", 101, "alice", "bug")]
    md = ok("notes", "--repo", str(repo), "--to", "v1.22.1", "--downloads", "contract")
    assert "Fixed a memory leak when pulling images. (#101, @alice)" in md
    assert "Main feature" not in md and "Only in 1.23" not in md
    assert md.count(" (#") == 1  # one note; TOC links are "](#anchor)"
    for arch in ("amd64", "arm64", "ppc64le", "s390x"):
        base = f"https://storage.googleapis.com/cri-o/artifacts/cri-o.{arch}.v1.22.1.tar.gz"
        for suffix in ("", ".sha256sum", ".spdx", ".sig"):
            assert f"({base}{suffix})" in md
    # the notes of v1.22.0 (previous: none) hold both main features, by PR and author
    first = json.loads(ok("notes", "--repo", str(repo), "--to", "v1.22.0", "--json", "--downloads", "contract"))
    assert [(n["pr"], n["author"], n["kind"]) for n in first["notes"]] == [(11, "bob", "feature"),
                                                                           (12, "bob", "feature")]
