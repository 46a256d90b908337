"""Parsing pull request descriptions as upstream's tool does, and the Dependencies section from go.mod."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.gitrel.godeps import dependency_changes, diff_modules, module_versions, render_dependencies
from crio_release.gitrel.prnotes import (
    Note,
    group_by_section,
    kinds_of,
    primary_kind,
    release_note_text,
    section_of,
)
from crio_release.gitrel.prsource import PullRequest, pr_number_of
from crio_release.gitrel.repo import open_repo
from helpers.gitrel import commit_file, git, make_crio_like_origin_and_clone

TEMPLATE = (Path(__file__).parent / "fixtures" / "crio-pr-template.md").read_text(encoding="utf-8")


def test_crio_template_with_kind_bug_filled_is_a_bug_not_api_change() -> None:
    body = TEMPLATE.replace("/kind other\n-->\n", "/kind other\n-->\n/kind bug\n").replace(
        "```release-note\n\n```", "```release-note\nFixed a crash.\n```")
    assert kinds_of((), body) == ["bug"]
    assert release_note_text(body) == "Fixed a crash."
    # the untouched template: the kinds inside the comment are no kinds, the empty block no note
    assert kinds_of((), TEMPLATE) == []
    assert release_note_text(TEMPLATE) is None
    pr = PullRequest.from_api({"number": 7, "body": body, "user": {"login": "alice"}, "labels": [],
                               "merged_at": "2026-01-01T00:00:00Z"})
    assert pr.note("a" * 40) == Note("Fixed a crash.", "bug", 7, "alice", "a" * 40)


@pytest.mark.parametrize("block", ["NONE", "none", "None", "N/A", '"NONE"', "", "  \n  "])
def test_no_note_blocks_are_dropped(block: str) -> None:
    assert release_note_text(f"text\n```release-note\n{block}\n```\n") is None


def test_note_text_is_tidied_like_upstream() -> None:
    assert release_note_text("```release-note\r\n- action required: Removed the --foo flag.\r\n```") == \
        "Removed the --foo flag."
    assert release_note_text("```release-notes\n* one\n* two\n```") == "* one\n* two"  # a list stays a list
    # a block inside a comment is no note; the first block outside one is
    assert release_note_text("<!--\n```release-note\nhidden\n```\n-->\n```release-note\nshown\n```") == "shown"
    # an unterminated comment hides the rest of the description, as GitHub's rendering does outside code
    assert release_note_text("<!-- forgot to close\n```release-note\nhidden\n```") is None
    assert Note("first line\nsecond", "bug", 3, "bo", "c" * 40).markdown() == "First line\n  second (#3, @bo)"
    assert Note("direct commit", None, None, "Ann Lee", "d" * 40).markdown() == f"Direct commit ({'d' * 12}, @Ann Lee)"


def test_kinds_labels_first_then_body_and_priority() -> None:
    body = "/kind feature\n"
    assert kinds_of(("kind/bug", "lgtm", "kind/cleanup"), body) == ["bug", "cleanup"]
    assert kinds_of(("lgtm",), body) == ["feature"]
    assert primary_kind(["cleanup", "bug", "feature"]) == "feature"
    assert primary_kind(["ci", "regression"]) == "regression"
    assert primary_kind(["ci"]) == "ci" and primary_kind([]) is None
    assert [section_of(k) for k in ("api-change", "bug", "regression", "cleanup", "flake", "failing-test",
                                    "deprecation", "documentation", "design", "feature", None)] == [
        "API Change", "Bug or Regression", "Bug or Regression", "Other (Cleanup or Flake)",
        "Other (Cleanup or Flake)", "Failing Test", "Deprecation", "Documentation", "Design", "Feature",
        "Uncategorized"]
    assert section_of("dependency-change") == "Dependency-Change"


def test_sections_in_upstream_order_notes_sorted() -> None:
    notes = [Note(text, kind, pr, "u", "0" * 40) for text, kind, pr in [
        ("zeta", "bug", 1), ("alpha", "regression", 2), ("misc", None, 3), ("tidy", "flake", 4),
        ("new", "feature", 5), ("gone", "deprecation", 6), ("dep", "dependency-change", 7), ("api", "api-change", 8),
        ("doc", "documentation", 9), ("test", "failing-test", 10), ("ci", "ci", 11)]]
    assert group_by_section(notes) == [
        ("Ci", ["Ci (#11, @u)"]), ("Dependency-Change", ["Dep (#7, @u)"]),  # unknown kinds first, as upstream
        ("Deprecation", ["Gone (#6, @u)"]), ("API Change", ["Api (#8, @u)"]), ("Feature", ["New (#5, @u)"]),
        ("Documentation", ["Doc (#9, @u)"]), ("Failing Test", ["Test (#10, @u)"]),
        ("Bug or Regression", ["Alpha (#2, @u)", "Zeta (#1, @u)"]),
        ("Other (Cleanup or Flake)", ["Tidy (#4, @u)"]), ("Uncategorized", ["Misc (#3, @u)"])]


def test_pull_request_numbers_from_subjects() -> None:
    assert pr_number_of("Merge pull request #9436 from saschagrunert/bump") == 9436
    assert pr_number_of("Fix the thing (#123)") == 123
    assert pr_number_of("Fix #123 in the middle") is None
    assert pr_number_of("Bump version to 1.36.4") is None


def test_pull_request_answers_of_the_wrong_shape_are_refused() -> None:
    for bad in (None, [], {"number": "7"}, {"number": 7, "body": 5}):
        with pytest.raises(ValueError):
            PullRequest.from_api(bad)


# go.mod ---------------------------------------------------------------------------

BEFORE = """module github.com/cri-o/cri-o

go 1.24.0

toolchain go1.24.4

require (
\tgithub.com/containers/image/v5 v5.36.0
\tgithub.com/gogo/protobuf v1.3.2 // indirect
\tgithub.com/old/gone v0.1.0
\tk8s.io/api v0.33.0
\tgithub.com/fork/me v1.0.0
)

require github.com/single/line v1.2.3

replace github.com/fork/me => github.com/cri-o/me v1.0.1-0.20250101120000-abcdef012345

replace github.com/local/only => ../only
"""

AFTER = """module github.com/cri-o/cri-o

go 1.25.0

require (
\tgithub.com/containers/image/v5 v5.37.0
\tgithub.com/gogo/protobuf v1.3.2 // indirect
\tk8s.io/api v0.34.1
\tgithub.com/fork/me v1.0.0
\tgithub.com/docker/docker v28.3.3+incompatible
\tgolang.org/x/net v0.0.0-20250601000000-0123456789ab // indirect
)

require github.com/single/line v1.2.3

replace github.com/fork/me => github.com/cri-o/me v1.0.2
"""


def test_module_versions_with_blocks_comments_and_replacements() -> None:
    before = module_versions(BEFORE)
    assert before == {
        "github.com/containers/image/v5": "v5.36.0", "github.com/gogo/protobuf": "v1.3.2",
        "github.com/old/gone": "v0.1.0", "k8s.io/api": "v0.33.0",
        "github.com/fork/me": "github.com/cri-o/me v1.0.1-0.20250101120000-abcdef012345",
        "github.com/single/line": "v1.2.3"}


def test_dependency_changes_between_two_revisions_as_upstream_prints_them(tmp_path: Path) -> None:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.0")
    repo = remote.clone
    commit_file(repo, "go.mod", BEFORE, "deps before")
    before = git(repo, "rev-parse", "HEAD")
    commit_file(repo, "go.mod", AFTER, "deps after")
    changes = dependency_changes(open_repo(repo), before, "HEAD")
    assert changes is not None
    assert "\n".join(render_dependencies(changes)) == """## Dependencies

### Added

- github.com/docker/docker: [v28.3.3](https://github.com/docker/docker/tree/v28.3.3)
- golang.org/x/net: 0123456

### Changed

- github.com/containers/image/v5: [v5.36.0 → v5.37.0](https://github.com/containers/image/compare/v5.36.0...v5.37.0)
- github.com/fork/me: github.com/cri-o/me abcdef0 → github.com/cri-o/me v1.0.2
- k8s.io/api: v0.33.0 → v0.34.1

### Removed

- github.com/old/gone: [v0.1.0](https://github.com/old/gone/tree/v0.1.0)"""
    # no change at all: every heading says so; no go.mod at the tip: no section
    same = diff_modules(module_versions(AFTER), module_versions(AFTER))
    assert render_dependencies(same).count("_Nothing has changed._") == 3
    git(repo, "rm", "-q", "go.mod")
    git(repo, "commit", "-q", "-m", "no go")
    assert dependency_changes(open_repo(repo), before, "HEAD") is None
