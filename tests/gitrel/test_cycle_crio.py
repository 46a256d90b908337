"""The release cycle on a repository laid out like CRI-O (version in internal/version/version.go), bare origin."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.gitrel import (
    commit_file,
    crio_release,
    git,
    go_version_file,
    make_crio_like_origin_and_clone,
    squash_pr,
)

from crio.errors import ExitCode

VERSION_GO = "internal/version/version.go"


def ok(*args: str) -> str:
    res = crio_release(*args)
    assert res.code == 0, res.err
    return res.out + res.err


@pytest.mark.parametrize("config", ["configured", "detected"])
def test_crio_like_cycle_pushes_to_origin(tmp_path: Path, config: str) -> None:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.0", **({} if config == "configured" else
                                                                   {"config": None}))
    repo, origin = remote.clone, remote.origin
    r = ["--repo", str(repo), "--push"]

    ok("branch", "cut", "1.36", *r)
    assert git(origin, "rev-parse", "release-1.36") == git(repo, "rev-parse", "main")
    squash_pr(repo, 9001, "bob", "Add a feature", "feature.txt", "f\n", "")
    git(repo, "push", "-q", "origin", "main")
    ok("forward", *r)
    assert git(origin, "rev-parse", "release-1.36") == git(repo, "rev-parse", "main")

    # a release candidate stops forwarding, and forward names the tag that stopped it
    ok("tag", "v1.36.0-rc.1", *r)
    assert git(origin, "show", f"main:{VERSION_GO}") == go_version_file("1.36.0").rstrip("\n")  # rc: main stays
    squash_pr(repo, 9002, "carol", "Work for 1.37", "next.txt", "n\n", "")
    git(repo, "push", "-q", "origin", "main")
    out = ok("forward", *r)
    assert "v1.36.0-rc.1 exists: release-1.36 has a tag of 1.36 and is no longer forwarded from main" in out
    assert "release-1.36: stopped by tag v1.36.0-rc.1" in out
    assert git(origin, "rev-parse", "release-1.36") != git(repo, "rev-parse", "main")

    ok("tag", "v1.36.0", *r)
    # main moved to 1.37.0 in one commit that changes only the constant's line
    assert git(origin, "show", f"main:{VERSION_GO}") == go_version_file("1.37.0").rstrip("\n")
    assert git(origin, "diff", "--name-only", "main^", "main") == VERSION_GO
    diff = git(origin, "diff", "-U0", "main^", "main")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))] == [
        '-const Version = "1.36.0"', '+const Version = "1.37.0"']

    git(repo, "checkout", "-q", "release-1.36")
    commit_file(repo, "fix.txt", "fixed\n", "Merge pull request #9003 from alice/fix\n\nFix a leak")
    git(repo, "push", "-q", "origin", "release-1.36")
    git(repo, "checkout", "-q", "main")
    ok("patch", "1.36", *r)
    assert git(origin, "show", f"release-1.36:{VERSION_GO}") == go_version_file("1.36.1").rstrip("\n")
    ok("tag", "v1.36.1", *r)
    assert git(origin, "rev-parse", "v1.36.1^{commit}") == git(origin, "rev-parse", "release-1.36")
    assert git(origin, "show", f"main:{VERSION_GO}") == go_version_file("1.37.0").rstrip("\n")


def test_remote_only_branch_messages_print_the_command(tmp_path: Path) -> None:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.0")
    ok("branch", "cut", "1.36", "--repo", str(remote.clone), "--push")
    ok("tag", "v1.36.0", "--repo", str(remote.clone), "--push")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote.origin), str(other))
    assert "release-1.36" not in git(other, "branch", "--list")
    for args in (["patch", "1.36"], ["tag", "v1.36.1"]):
        res = crio_release(*args, "--repo", str(other))
        assert res.code == ExitCode.REFUSED
        assert ("branch release-1.36 does not exist in" in res.err
                and "(it exists on origin: create it with `git branch release-1.36 origin/release-1.36`)" in res.err)
    git(other, "branch", "release-1.36", "origin/release-1.36")
    commit_file(other, "x.txt", "x\n", "x")  # on main; the release branch has nothing new
    res = crio_release("patch", "1.36", "--repo", str(other))
    assert res.code == ExitCode.REFUSED and "nothing changed on release-1.36 since v1.36.0" in res.err
