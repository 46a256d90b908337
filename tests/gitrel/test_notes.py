"""Release notes: block parsing, kinds, PR numbers and authors, previous-tag discovery by semver, publishing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from crio_release.gitrel.gitnotes import collect_notes, kind_of
from crio_release.gitrel.notes import NotesSource, build_notes, previous_tag
from crio_release.gitrel.prnotes import release_note_text
from crio_release.gitrel.repo import open_repo
from helpers.gitrel import (
    GIT_IDENTITY,
    commit_file,
    configure,
    crio_release,
    git,
    make_origin_and_clone,
    merge_pr,
    release_note,
    squash_pr,
    tree_digest,
)

from crio.errors import ExitCode

BASE = "https://mirror.example.invalid/crio"


def test_release_note_block_parsing() -> None:
    assert release_note_text("title\n\n```release-note\nFixed it.\n```\n") == "Fixed it."
    assert release_note_text("```release-note\r\nTwo\r\nlines\r\n```") == "Two\nlines"
    assert release_note_text("```release-note\nNONE\n```") is None
    assert release_note_text("```release-note\nnone\n```") is None
    assert release_note_text("```release-note\n\n```") is None
    assert release_note_text("no block at all") is None


def test_kind_from_kind_line_then_conventional_prefix() -> None:
    assert kind_of("body\n/kind feature\n", "fix: x") == "feature"
    assert kind_of("body", "fix(server): crash") == "bug"
    assert kind_of("body", "feat!: breaking") == "feature"
    assert kind_of("body", "docs: typo") == "documentation"
    assert kind_of("body", "Update things") is None
    assert kind_of("<!--\n/kind api-change\n-->\n/kind bug\n", "x") == "bug"  # comments say nothing


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """main with a merge, a squash, a NONE note, a note-less commit and a merged branch's own commits."""
    remote = make_origin_and_clone(tmp_path, "1.22.0")
    repo = remote.clone
    git(repo, "tag", "-a", "-m", "base", "v1.21.0")
    merge_pr(repo, 12, "user", "branch", "a.txt", "a\n",
             "feat: pull images faster\n\n" + release_note("Images are pulled in parallel.", "feature"))
    squash_pr(repo, 13, "dana", "fix: foo", "b.txt", "b\n", release_note("Fixed foo — naïve “quotes”.\nSecond line.",
                                                                           None))
    squash_pr(repo, 14, "erin", "chore: bump deps", "c.txt", "c\n", release_note("NONE", "cleanup"))
    commit_file(repo, "d.txt", "d\n", "direct commit without a note")
    squash_pr(repo, 15, "fay", "docs: explain", "e.txt", "e\n", release_note("Documented X.", "documentation"))
    squash_pr(repo, 16, "gus", "Tune the thing", "f.txt", "f\n", release_note("Tuned.", "api-change"))
    return repo


def test_notes_group_by_kind_with_pr_and_author(history: Path) -> None:
    repo = open_repo(history)
    notes = build_notes(repo, "main", "v1.21.0", NotesSource(BASE, ("amd64",), "contract"))
    assert [(n.pr, n.author, n.kind) for n in notes.notes] == [
        (12, "user", "feature"), (13, "dana", "bug"), (15, "fay", "documentation"), (16, "gus", "api-change")]
    # Kubernetes' order: API Change, Feature, Documentation, Bug or Regression
    assert [title for title, _ in notes.by_kind()] == ["API Change", "Feature", "Documentation",
                                                      "Bug or Regression"]
    md = notes.as_markdown()
    assert "- Images are pulled in parallel. (#12, @user)" in md
    assert " - Fixed foo — naïve “quotes”.\n  Second line. (#13, @dana)" in md
    assert "#14" not in md and "NONE" not in md
    assert f"{BASE}/artifacts/cri-o.amd64.{notes.to_sha}.tar.gz.spdx" in md
    res = crio_release("notes", "publish", "--repo", str(history), "--from", "v1.21.0", "--to", "main",
                       "--base-url", BASE, "--downloads", "contract")
    assert res.code == 0, res.err
    assert "Fixed foo — naïve “quotes”." in git(history, "show", f"gh-pages:{notes.to_sha}.md")


def test_notes_cli_json_and_arch_selection(history: Path) -> None:
    res = crio_release("notes", "--repo", str(history), "--from", "v1.21.0", "--to", "main", "--json",
                       "--bucket", "my-bucket", "--arch", "x86_64", "--arch", "aarch64", "--downloads", "contract")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert sorted(data["downloads"]) == ["amd64", "arm64"]
    sha = data["to_commit"]
    assert data["downloads"]["arm64"] == {
        "tarball": f"https://storage.googleapis.com/my-bucket/artifacts/cri-o.arm64.{sha}.tar.gz",
        "checksum": f"https://storage.googleapis.com/my-bucket/artifacts/cri-o.arm64.{sha}.tar.gz.sha256sum",
        "sbom": f"https://storage.googleapis.com/my-bucket/artifacts/cri-o.arm64.{sha}.tar.gz.spdx",
        "signature": f"https://storage.googleapis.com/my-bucket/artifacts/cri-o.arm64.{sha}.tar.gz.sig",
        "sbom_signature": f"https://storage.googleapis.com/my-bucket/artifacts/cri-o.arm64.{sha}.tar.gz.spdx.sig",
    }
    assert [n["pr"] for n in data["notes"]] == [12, 13, 15, 16]
    same = crio_release("notes", "generate", "--repo", str(history), "--from", "v1.21.0", "--to", "main", "--json",
                        "--bucket", "my-bucket", "--arch", "x86_64", "--arch", "aarch64", "--downloads", "contract")
    assert same.code == 0
    assert {**json.loads(same.out), "generated": None} == {**data, "generated": None}
    # the default notes command needs --to, and a bad bucket name is a usage error
    missing = crio_release("notes", "--repo", str(history))
    assert missing.code == ExitCode.USAGE and "missing --to" in missing.err
    bad = crio_release("notes", "--repo", str(history), "--to", "main", "--bucket", "Bad_Bucket!")
    assert bad.code == ExitCode.USAGE and "invalid bucket name" in bad.err
    # `notes generate`-style: --from must be an ancestor of --to
    git(history, "checkout", "-q", "-b", "side", "v1.21.0")
    commit_file(history, "side.txt", "s\n", "side work")
    git(history, "tag", "v1.21.1")
    wrong = crio_release("notes", "--repo", str(history), "--from", "v1.21.1", "--to", "main")
    assert wrong.code == ExitCode.REFUSED and "is not an ancestor of --to main" in wrong.err


def test_notes_dedupe_merge_body_and_branch_commits(history: Path) -> None:
    # a merged branch whose own commit carries the same PR's block is listed once
    git(history, "checkout", "-q", "-b", "topic")
    commit_file(history, "t.txt", "t\n", "Add t (#30)\n\n" + release_note("Added t.", "feature"))
    git(history, "checkout", "-q", "main")
    git(history, "merge", "-q", "--no-ff", "-m", "Merge pull request #30 from hal/topic\n\nAdd t\n\n"
        + release_note("Added t.", "feature"), "topic")
    notes = collect_notes(open_repo(history), git(history, "rev-parse", "HEAD^"), "HEAD")
    assert [(n.pr, n.text) for n in notes] == [(30, "Added t.")]


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One history for every previous-tag case (built once: the cases only read it)."""
    tmp_path = tmp_path_factory.mktemp("linear")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        for name, value in GIT_IDENTITY.items():
            mp.setenv(name, value)
        yield _linear(tmp_path)


def _linear(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "versions"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    configure(repo)
    shas: dict[str, str] = {}
    for tag in ("v1.9.0", "v1.9.1", "v1.10.0"):
        shas[tag] = commit_file(repo, "f.txt", tag, tag)
        git(repo, "tag", "-a", "-m", tag, tag)
    git(repo, "checkout", "-q", "-b", "release-1.9", "v1.9.1")
    shas["v1.9.2"] = commit_file(repo, "g.txt", "x", "v1.9.2")
    git(repo, "tag", "v1.9.2")  # lightweight tags count too
    git(repo, "checkout", "-q", "main")
    for tag in ("v1.10.1", "v1.100.0-rc.1", "v1.100.0-rc.2", "v1.100.0", "v2.0.0"):
        shas[tag] = commit_file(repo, "f.txt", tag, tag)
        git(repo, "tag", "-a", "-m", tag, tag)
    shas["tip"] = commit_file(repo, "f.txt", "tip", "after 2.0.0")
    git(repo, "tag", "not-a-version")
    return repo, shas


@pytest.mark.parametrize(("to", "expected"), [
    ("v1.9.0", None),
    ("v1.9.1", "v1.9.0"),
    ("v1.9.2", "v1.9.1"),
    ("v1.10.0", "v1.9.1"),  # v1.9.2 is higher but not an ancestor
    ("v1.10.1", "v1.10.0"),  # text order would pick v1.9.x
    ("v1.100.0-rc.1", "v1.10.1"),
    ("v1.100.0-rc.2", "v1.100.0-rc.1"),
    ("v1.100.0", "v1.10.1"),  # a release skips pre-releases; 1.100 > 1.10 > 1.9
    ("v2.0.0", "v1.100.0"),
    ("tip", "v2.0.0"),
    ("v2.0.0-sha", "v1.100.0"),  # a commit with a tag on it: tags at the commit itself do not count
])
def test_previous_tag_by_semver_among_ancestors(linear: tuple[Path, dict[str, str]], to: str,
                                                expected: str | None) -> None:
    repo_path, shas = linear
    repo = open_repo(repo_path)
    target = shas[to.removesuffix("-sha")] if to in ("tip", "v2.0.0-sha") else to
    assert previous_tag(repo, target) == expected


def test_previous_tag_of_new_minor_is_not_a_later_patch_of_another_branch(tmp_path: Path) -> None:
    remote = make_origin_and_clone(tmp_path, "1.21.0")
    repo, r = remote.clone, ["--repo", str(remote.clone)]
    assert crio_release("branch", "cut", "1.21", *r).code == 0
    assert crio_release("tag", "v1.21.0", *r).code == 0
    squash_pr(repo, 40, "ivy", "feat: 1.22 work", "m.txt", "m\n", release_note("New in 1.22.", "feature"))
    git(repo, "checkout", "-q", "release-1.21")
    squash_pr(repo, 41, "jo", "fix: backport", "b.txt", "b\n", release_note("Backported fix.", "bug"))
    git(repo, "checkout", "-q", "main")
    assert crio_release("patch", "1.21", *r).code == 0
    assert crio_release("tag", "v1.21.1", *r).code == 0
    assert git(repo, "show", "main:crio/VERSION") == "1.22.0"  # moved by `tag v1.21.0`
    assert crio_release("branch", "cut", "1.22", *r).code == 0
    assert crio_release("tag", "v1.22.0", *r).code == 0
    notes = build_notes(open_repo(repo), "v1.22.0", None, NotesSource(BASE, ("amd64",), "contract"))
    assert notes.from_rev == "v1.21.0"
    assert [n.pr for n in notes.notes] == [40]


# publish ----------------------------------------------------------------------


def publish(repo: Path, to: str, *extra: str) -> tuple[int, str, str]:
    res = crio_release("notes", "publish", "--repo", str(repo), "--to", to, "--base-url", BASE,
                       "--downloads", "contract", *extra)
    return res.code, res.out, res.err


def released(tmp_path: Path) -> tuple[Path, Path]:
    remote = make_origin_and_clone(tmp_path, "1.22.0")
    r = ["--repo", str(remote.clone), "--push"]
    assert crio_release("branch", "cut", "1.22", *r).code == 0
    assert crio_release("tag", "v1.22.0", *r).code == 0
    return remote.origin, remote.clone


def test_publish_local_only_then_push(tmp_path: Path) -> None:
    origin, clone = released(tmp_path)
    before = tree_digest(origin)
    code, out, err = publish(clone, "v1.22.0")
    assert code == 0, err
    assert "not pushed (local only)" in out
    assert tree_digest(origin) == before
    # a new branch gets upstream's layout: the page at the root, README.md listing it, no index.md
    assert git(clone, "show", "gh-pages:README.md") == "# CRI-O release notes\n\n## Release Notes\n\n- [v1.22.0](v1.22.0.md)"
    assert "# CRI-O v1.22.0\n" in git(clone, "show", "gh-pages:v1.22.0.md")
    assert git(clone, "ls-tree", "--name-only", "gh-pages").splitlines() == ["README.md", "v1.22.0.md"]
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # never checked out
    code, _out, err = publish(clone, "v1.22.0", "--push")
    assert code == 0, err
    assert git(origin, "show", "gh-pages:README.md").endswith("- [v1.22.0](v1.22.0.md)")


def test_publish_retries_when_a_concurrent_push_wins(tmp_path: Path) -> None:
    origin, clone = released(tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    configure(other)
    git(clone, "checkout", "-q", "release-1.22")
    commit_file(clone, "fix.txt", "x\n", "fix")
    git(clone, "checkout", "-q", "main")
    assert crio_release("patch", "1.22", "--repo", str(clone), "--push").code == 0
    assert crio_release("tag", "v1.22.1", "--repo", str(clone), "--push").code == 0
    git(other, "fetch", "-q", "--tags")
    # `other` publishes first; `clone` has never seen gh-pages, so its first push is rejected
    assert publish(other, "v1.22.0", "--push")[0] == 0
    code, out, err = publish(clone, "v1.22.1", "--push")
    assert code == 0, err
    assert out.count("git push origin refs/heads/gh-pages") == 2
    assert "git fetch --quiet origin +refs/heads/gh-pages:refs/remotes/origin/gh-pages" in out
    index = git(origin, "show", "gh-pages:README.md")
    assert index.splitlines()[4:] == ["- [v1.22.1](v1.22.1.md)", "- [v1.22.0](v1.22.0.md)"]
    assert git(origin, "rev-list", "--count", "gh-pages") == "2"  # rebuilt on top, nothing lost


def test_publish_gives_up_after_retries(tmp_path: Path) -> None:
    origin, clone = released(tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    assert publish(other, "v1.22.0", "--push")[0] == 0
    code, _out, err = publish(clone, "main", "--push", "--retries", "0")
    assert code == ExitCode.GIT
    assert "rejected 1 time(s) because others pushed first" in err


def test_publish_dry_run_changes_nothing(tmp_path: Path) -> None:
    origin, clone = released(tmp_path)
    before = tree_digest(origin, clone)
    code, out, err = publish(clone, "v1.22.0", "--push", "--dry-run")
    assert code == 0, err
    assert tree_digest(origin, clone) == before
    lines = out.splitlines()
    assert lines[0] == "GIT_INDEX_FILE=$tmp_index git read-tree --empty"
    assert lines[-1] == "git push origin refs/heads/gh-pages"
    assert "git update-ref refs/heads/gh-pages \"$commit\" " + "0" * 40 in lines
