"""notes publish into a pages branch laid out like upstream's, and the Downloads section from the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.gitrel import (
    Remote,
    commit_file,
    configure,
    crio_release,
    git,
    make_crio_like_origin_and_clone,
    release_note,
    squash_pr,
)
from helpers.http_server import FaultServer

from crio.artifacts import arch_files, manifest_name
from crio.errors import ExitCode
from crio.manifest import build_revision_manifest, write_revision_manifest
from crio.revision import parse_revision

UPSTREAM_README = """# CRI-O release notes

These pages hold the release notes of every CRI-O release.

## Release Notes

- [v1.36.2](v1.36.2.md)
- [v1.36.1](v1.36.1.md)
- [v1.35.5](v1.35.5.md)
"""


def upstream_pages(remote: Remote) -> None:
    """An orphan gh-pages on origin with upstream's layout: root pages, README.md home, dependencies.md."""
    pages = remote.clone.parent / "pages"
    git(remote.clone.parent, "init", "-q", "-b", "gh-pages", str(pages))
    configure(pages)
    for version in ("v1.35.5", "v1.36.1", "v1.36.2"):
        commit_file(pages, f"{version}.md", f"# CRI-O {version}\n", f"Release notes for {version}")
    commit_file(pages, "dependencies.md", "# Dependency report\n", "deps")
    commit_file(pages, "README.md", UPSTREAM_README, "home")
    git(pages, "push", "-q", str(remote.origin), "gh-pages:gh-pages")
    git(remote.clone, "fetch", "-q", "origin")


def released(tmp_path: Path) -> Remote:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.2")
    repo = remote.clone
    git(repo, "tag", "-a", "-m", "v1.36.2", "v1.36.2")
    squash_pr(repo, 77, "alice", "Fix the leak", "leak.go", "1\n", release_note("Fixed a leak.", "bug"))
    git(repo, "tag", "-a", "-m", "v1.36.3", "v1.36.3")
    git(repo, "push", "-q", "--tags", "origin", "main")
    return remote


def publish(remote: Remote, *extra: str) -> tuple[int, str, str]:
    res = crio_release("notes", "publish", "--repo", str(remote.clone), "--to", "v1.36.3", "--source", "git",
                       "--downloads", "contract", *extra)
    return res.code, res.out, res.err


def test_publish_keeps_upstreams_layout_and_republish_commits_nothing(tmp_path: Path) -> None:
    remote = released(tmp_path)
    upstream_pages(remote)
    before = git(remote.origin, "rev-parse", "gh-pages")
    code, _out, err = publish(remote, "--push")
    assert code == 0, err
    origin = remote.origin
    assert git(origin, "rev-parse", "gh-pages^") == before  # one commit on top
    readme = git(origin, "show", "gh-pages:README.md") + "\n"
    assert readme == UPSTREAM_README.replace("- [v1.36.2]", "- [v1.36.3](v1.36.3.md)\n- [v1.36.2]")
    assert git(origin, "diff", "--numstat", "gh-pages^", "gh-pages", "--", "README.md") == "1\t0\tREADME.md"
    assert git(origin, "ls-tree", "--name-only", "gh-pages").splitlines() == [
        "README.md", "dependencies.md", "v1.35.5.md", "v1.36.1.md", "v1.36.2.md", "v1.36.3.md"]  # no index.md
    page = git(origin, "show", "gh-pages:v1.36.3.md")
    assert "# CRI-O v1.36.3\n" in page and " - Fixed a leak. (#77, @alice)" in page
    assert "## Changelog since v1.36.2" in page

    # the same content again: no commit, locally or on origin, even with a new generation date
    published = git(origin, "rev-parse", "gh-pages")
    code, out, err = publish(remote, "--push")
    assert code == 0, err
    assert "already has the notes of v1.36.3 with the same content: nothing to commit" in out
    assert "nothing committed" in err
    assert git(origin, "rev-parse", "gh-pages") == published == git(remote.clone, "rev-parse", "gh-pages")

    # a changed page (a note added later) is one more commit touching only that page
    git(remote.clone, "tag", "-d", "v1.36.3")
    squash_pr(remote.clone, 78, "bob", "Fix more", "more.go", "1\n", release_note("Fixed more.", "bug"))
    git(remote.clone, "tag", "-a", "-m", "v1.36.3", "v1.36.3")
    code, _out, err = publish(remote, "--push")
    assert code == 0, err
    assert git(origin, "diff", "--name-only", published, "gh-pages") == "v1.36.3.md"


def test_publish_places_an_older_patch_below_newer_releases(tmp_path: Path) -> None:
    remote = released(tmp_path)
    upstream_pages(remote)
    git(remote.clone, "checkout", "-q", "-b", "release-1.35", "v1.36.2")
    git(remote.clone, "tag", "-a", "-m", "v1.35.6", "v1.35.6")
    git(remote.clone, "checkout", "-q", "main")
    res = crio_release("notes", "publish", "--repo", str(remote.clone), "--to", "v1.35.6", "--from", "v1.36.2",
                       "--source", "git", "--downloads", "contract")
    assert res.code == 0, res.err
    listed = [line for line in git(remote.clone, "show", "gh-pages:README.md").splitlines() if line.startswith("- [")]
    assert listed == ["- [v1.36.2](v1.36.2.md)", "- [v1.36.1](v1.36.1.md)", "- [v1.35.6](v1.35.6.md)",
                      "- [v1.35.5](v1.35.5.md)"]


def test_a_branch_in_the_index_layout_keeps_it(tmp_path: Path) -> None:
    remote = released(tmp_path)
    pages = tmp_path / "pages"
    git(tmp_path, "init", "-q", "-b", "gh-pages", str(pages))
    configure(pages)
    commit_file(pages, "releases/v1.36.2.md", "# CRI-O v1.36.2\n", "page")
    commit_file(pages, "index.md", "# CRI-O release notes\n\n- [v1.36.2](releases/v1.36.2.md)\n", "index")
    git(pages, "push", "-q", str(remote.origin), "gh-pages:gh-pages")
    git(remote.clone, "fetch", "-q", "origin")
    code, _out, err = publish(remote)
    assert code == 0, err
    assert git(remote.clone, "show", "gh-pages:index.md").splitlines()[2:] == [
        "- [v1.36.3](releases/v1.36.3.md)", "- [v1.36.2](releases/v1.36.2.md)"]
    assert "README.md" not in git(remote.clone, "ls-tree", "--name-only", "gh-pages")
    head = git(remote.clone, "rev-parse", "gh-pages")
    assert publish(remote)[0] == 0 and git(remote.clone, "rev-parse", "gh-pages") == head


# Downloads --------------------------------------------------------------------


def bucket_with_manifest(root: Path, revision: str, archs: list[str]) -> None:
    """A bucket directory whose artifacts/ holds one revision's unsigned set and its manifest."""
    artifacts = root / "artifacts"
    artifacts.mkdir(parents=True)
    rev = parse_revision(revision)
    for arch in archs:
        names = arch_files(arch, rev)
        (artifacts / names["tarball"]).write_bytes(arch.encode() * 1000)
        (artifacts / names["checksum"]).write_text(f"{'0' * 64}  {names['tarball']}\n")
        (artifacts / names["sbom"]).write_text("SPDXVersion: SPDX-2.3\n")
    write_revision_manifest(artifacts, build_revision_manifest(artifacts, rev, archs, revision.removeprefix("v")))


def notes_json(remote: Remote, url: str, *extra: str) -> tuple[int, dict, str]:
    res = crio_release("notes", "--repo", str(remote.clone), "--to", "v1.36.3", "--source", "git", "--json",
                       "--base-url", url, *extra)
    return res.code, json.loads(res.out) if res.code == 0 else {}, res.err


def test_downloads_from_the_published_manifest_else_the_contract(tmp_path: Path) -> None:
    remote = released(tmp_path)
    bucket = tmp_path / "bucket"
    bucket_with_manifest(bucket, "v1.36.3", ["arm64"])
    with FaultServer(bucket) as server:
        code, data, err = notes_json(remote, server.url)
        assert code == 0, err
        files = data["download_files"]
        assert files["source"] == "manifest"
        assert files["manifest"] == f"{server.url}/artifacts/{manifest_name('v1.36.3')}"
        assert sorted(data["downloads"]) == ["arm64"]  # only what was published, no signature links
        assert sorted(data["downloads"]["arm64"]) == ["checksum", "sbom", "tarball"]
        tarball = next(f for f in files["files"] if f["role"] == "tarball")
        assert tarball["size"] == 5000 and len(tarball["sha256"]) == 64
        res = crio_release("notes", "--repo", str(remote.clone), "--to", "v1.36.3", "--source", "git",
                           "--base-url", server.url)
        assert f"- arm64: [cri-o.arm64.v1.36.3.tar.gz]({server.url}/artifacts/cri-o.arm64.v1.36.3.tar.gz) " \
               f"(sha256 `{tarball['sha256']}`)" in res.out
        assert "amd64" not in res.out and ".sig" not in res.out

        # another revision is not published yet: the contract, and a note saying so
        code, data, err = notes_json(remote, server.url, "--to", "v1.36.2")
        assert code == 0 and data["download_files"]["source"] == "contract"
        assert sorted(data["downloads"]) == ["amd64", "arm64", "ppc64le", "s390x"]
        assert "cri-o.v1.36.2.manifest.json is not published yet" in err
        code, _data, err = notes_json(remote, server.url, "--to", "v1.36.2", "--downloads", "manifest")
        assert code == ExitCode.RESOLUTION and "--downloads manifest needs the revision's manifest" in err

        # a manifest naming a file the contract does not name is refused
        path = bucket / "artifacts" / manifest_name("v1.36.3")
        hostile = json.loads(path.read_text())
        hostile["files"][0]["name"] = "evil.tar.gz"
        path.write_text(json.dumps(hostile))
        code, _data, err = notes_json(remote, server.url)
        assert code == ExitCode.VERIFICATION and "lists 'evil.tar.gz' as the" in err
    # the bucket unreachable: a warning and the contract
    code, data, err = notes_json(remote, server.url)
    assert code == 0 and data["download_files"]["source"] == "contract"
    assert f"warning: could not read {server.url}/artifacts/" in err


@pytest.mark.parametrize("arch", ["arm64"])
def test_arch_option_filters_the_manifest(tmp_path: Path, arch: str) -> None:
    remote = released(tmp_path)
    bucket = tmp_path / "bucket"
    bucket_with_manifest(bucket, "v1.36.3", ["amd64", "arm64"])
    with FaultServer(bucket) as server:
        code, data, err = notes_json(remote, server.url, "--arch", arch)
    assert code == 0, err
    assert sorted(data["downloads"]) == [arch]
