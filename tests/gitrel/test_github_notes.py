"""Release notes from pull requests through a fake GitHub API on 127.0.0.1 (a real HTTP server that counts).

The repository is laid out like CRI-O and merges like it: "Merge pull request #N from user/branch" commits,
a squash merge, and direct commits whose pull request only GitHub knows. Descriptions use CRI-O's real pull
request template (.github/PULL_REQUEST_TEMPLATE.md of cri-o/cri-o), whose HTML comment lists every kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from crio_release.gitrel.ghcache import ResponseCache
from crio_release.gitrel.github import GitHubClient
from crio_release.gitrel.notes import NotesSource, build_notes
from crio_release.gitrel.prsource import PullRequestSource
from crio_release.gitrel.repo import open_repo
from helpers.fake_github import FakeGitHub
from helpers.gitrel import (
    commit_file,
    crio_release,
    git,
    make_crio_like_origin_and_clone,
    merge_pr,
    squash_pr,
)

from crio.errors import ExitCode

TEMPLATE = (Path(__file__).parent / "fixtures" / "crio-pr-template.md").read_text(encoding="utf-8")
BASE = "http://127.0.0.1:9/unused"
TOKEN = "ghp_fake_token_that_must_never_be_printed"


def filled(note: str, kind: str | None = None) -> str:
    """CRI-O's template as an author fills it: one /kind line uncommented, the release-note block written."""
    body = TEMPLATE.replace("```release-note\n\n```", f"```release-note\n{note}\n```")
    if kind:
        body = body.replace("/kind other\n-->\n", f"/kind other\n-->\n\n/kind {kind}\n", 1)
    return body.replace("\n", "\r\n")  # GitHub stores descriptions typed in the browser with CRLF


GO_MOD_BEFORE = """module github.com/cri-o/cri-o

go 1.24

require (
\tgithub.com/containers/storage v1.59.0
\tgithub.com/old/thing v0.3.0
\tgithub.com/opencontainers/runc v1.5.1
\tgolang.org/x/sys v0.30.0 // indirect
)
"""

GO_MOD_AFTER = """module github.com/cri-o/cri-o

go 1.24

require (
\tgithub.com/containers/storage v1.59.0
\tgithub.com/opencontainers/runc v1.5.2
\tgolang.org/x/sys v0.31.0 // indirect
\tsigs.k8s.io/yaml v1.5.0
)
"""


@dataclass
class Scenario:
    repo: Path
    api: FakeGitHub
    direct: str  # the "Bump dependencies" commit, whose pull request only GitHub knows
    tidy: str  # a direct push without a pull request


def build_history(repo: Path, api: FakeGitHub) -> Scenario:
    commit_file(repo, "go.mod", GO_MOD_BEFORE, "go.mod for 1.36")
    git(repo, "tag", "-a", "-m", "v1.36.2", "v1.36.2")
    merge_pr(repo, 101, "alice", "fix-exec-crash", "exec.go", "1\n", "Fix a crash in exec")
    api.add_pull(101, filled("Fixed a crash when a container exits during exec.", "bug"), "alice")
    merge_pr(repo, 102, "bob", "goroutines", "status.go", "1\n", "Add crio status goroutines")
    api.add_pull(102, filled("added the `crio status goroutines` subcommand."), "bob", labels=("kind/feature",
                                                                                              "lgtm"))
    squash_pr(repo, 103, "ci-bot", "Update CI images", "ci.yml", "1\n", "")
    api.add_pull(103, filled("None", "ci"), "ci-bot")
    merge_pr(repo, 104, "carol", "pull-stall", "pull.go", "1\n", "Retry stalled pulls")
    api.add_pull(104, filled("Image pulls no longer stall after a registry timeout.\nThe pull is retried up to "
                             "three times."), "carol", labels=("kind/regression", "kind/cleanup"))
    direct = commit_file(repo, "go.mod", GO_MOD_AFTER, "Bump dependencies")
    api.add_pull(105, filled("Superseded."), "dana", merged=False)
    api.add_pull(106, filled("Updated runc to v1.5.2."), "dana", merge_commit_sha=direct)
    api.commit_pulls[direct] = [105, 106]  # the merged one is on page 2
    merge_pr(repo, 108, "mallory", "gone", "gone.go", "1\n", "A pull request deleted since")
    tidy = commit_file(repo, "tidy.txt", "1\n", "Tidy up")
    api.commit_pulls[tidy] = []
    merge_pr(repo, 109, "erin", "drop-flag", "flag.go", "1\n", "Remove --foo")
    api.add_pull(109, filled("The `--foo` option is removed; use `--bar` instead.", "deprecation"), "erin",
                 labels=("kind/deprecation", "release-note-action-required"))
    git(repo, "tag", "-a", "-m", "v1.36.3", "v1.36.3")
    return Scenario(repo, api, direct, tidy)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.2")
    with FakeGitHub(page_size=1) as api:
        yield build_history(remote.clone, api)


EXPECTED_CHANGES = """### Urgent Upgrade Notes

 - The `--foo` option is removed; use `--bar` instead. (#109, @erin)

### Changes by Kind

#### Feature

 - Added the `crio status goroutines` subcommand. (#102, @bob)

#### Bug or Regression

 - Fixed a crash when a container exits during exec. (#101, @alice)
 - Image pulls no longer stall after a registry timeout.
  The pull is retried up to three times. (#104, @carol)

#### Uncategorized

 - Updated runc to v1.5.2. (#106, @dana)
"""

EXPECTED_DEPENDENCIES = """## Dependencies

### Added

- sigs.k8s.io/yaml: v1.5.0

### Changed

- github.com/opencontainers/runc: [v1.5.1 → v1.5.2](https://github.com/opencontainers/runc/compare/v1.5.1...v1.5.2)
- golang.org/x/sys: v0.30.0 → v0.31.0

### Removed

- github.com/old/thing: [v0.3.0](https://github.com/old/thing/tree/v0.3.0)
"""


def source(api: FakeGitHub, cache: Path | None, sleeps: list[float], said: list[str]) -> PullRequestSource:
    """A source whose client sleeps on a fake clock (waits are recorded, not slept)."""
    now = [1_000_000.0]

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        now[0] += seconds

    client = GitHubClient(api.url, TOKEN, sleep=sleep, clock=lambda: now[0], say=said.append, backoff=0.5)
    return PullRequestSource(client, api.repository, ResponseCache(cache, api.url, api.repository),
                             progress=False, warn=said.append)


def test_notes_from_pull_requests_grouped_as_upstream(scenario: Scenario, tmp_path: Path) -> None:
    api, sleeps, said = scenario.api, [], []
    api.fault("/repos/cri-o/cri-o/pulls/101", "rate429")
    api.fault("/repos/cri-o/cri-o/pulls/102", "status:502")
    api.fault("/repos/cri-o/cri-o/pulls/104", "retry403")
    api.retry_after = 7
    prs = source(api, tmp_path / "cache", sleeps, said)
    notes = build_notes(open_repo(scenario.repo), "v1.36.3", None,
                        NotesSource(BASE, ("amd64",), "contract", prs, "https://github.com/cri-o/cri-o", said.append))
    page = notes.as_markdown()
    assert notes.from_rev == "v1.36.2"
    assert EXPECTED_CHANGES in page
    assert page.endswith(EXPECTED_DEPENDENCIES)
    assert "api-change" not in page and "API Change" not in page  # the template's comment says nothing
    assert f"[v1.36.2...v1.36.3](https://github.com/cri-o/cri-o/compare/v1.36.2...{notes.to_sha})" in page
    assert "Superseded" not in page  # the unmerged pull request of the same commit
    # faults: each was waited out or retried, visibly
    # (other threads may wait out the same pause too: parallel requests share it)
    assert sleeps.count(0.5) == 1 and max(sleeps) == 7.0 and sum(s == 7.0 for s in sleeps) >= 2
    assert any("GitHub rate limit reached (GET /repos/cri-o/cri-o/pulls/101); waiting 7 s" in s for s in said)
    assert any("GET /repos/cri-o/cri-o/pulls/102: GitHub answered 502; retrying in 0.5 s" in s for s in said)
    assert "warning: pull request #108 not found in cri-o/cri-o (404); its note is skipped" in said
    assert notes.skipped == ["#108"]
    # one request per pull request at most: six by subject, three pages for the two direct commits, three faults
    assert api.count() == 6 + 3 + 3
    pages = [r.query for r in api.requests if r.path.endswith(f"{scenario.direct}/pulls")]
    assert pages == ["per_page=100", "per_page=1&page=2"]
    assert {r.authorization for r in api.requests} == {f"Bearer {TOKEN}"}


def test_second_run_makes_no_request(scenario: Scenario, tmp_path: Path) -> None:
    first = build_notes(open_repo(scenario.repo), "v1.36.3", "v1.36.2",
                        NotesSource(BASE, ("amd64",), "contract", source(scenario.api, tmp_path / "c", [], [])))
    count = scenario.api.count()
    said: list[str] = []
    again = build_notes(open_repo(scenario.repo), "v1.36.3", "v1.36.2",
                        NotesSource(BASE, ("amd64",), "contract", source(scenario.api, tmp_path / "c", [], said)))
    assert scenario.api.count() == count  # the server saw nothing
    assert again.notes == first.notes and again.skipped == ["#108"]
    assert any("#108 is not in cri-o/cri-o (404, cached" in s for s in said)
    # --refresh asks again, once per pull request
    refreshed = source(scenario.api, tmp_path / "c", [], [])
    refreshed.refresh = True
    build_notes(open_repo(scenario.repo), "v1.36.3", "v1.36.2", NotesSource(BASE, ("amd64",), "contract", refreshed))
    assert scenario.api.count() == 2 * count


def cli(scenario: Scenario, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    res = crio_release("notes", "--repo", str(scenario.repo), "--to", "v1.36.3", "--github-repo", "cri-o/cri-o",
                       "--cache-dir", str(tmp_path / "cli-cache"), "--base-url", BASE, "--downloads", "contract",
                       *extra)
    return res.code, res.out, res.err


def test_cli_notes_json_carry_the_same_content(scenario: Scenario, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", scenario.api.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    scenario.api.fault("/repos/cri-o/cri-o/pulls/109", "rate429")  # Retry-After: 0
    code, page, err = cli(scenario, tmp_path)
    assert code == 0, err
    assert EXPECTED_CHANGES in page and page.endswith(EXPECTED_DEPENDENCIES)
    assert "GitHub rate limit reached" in err and "#108" in err and TOKEN not in err + page
    requests = scenario.api.count()
    code, out, err = cli(scenario, tmp_path, "--json")
    assert code == 0, err
    assert scenario.api.count() == requests  # cached: no request
    data = json.loads(out)
    assert data["source"] == "github" and data["repository"] == "cri-o/cri-o"
    assert [(s["title"], len(s["notes"])) for s in data["sections"]] == [
        ("Feature", 1), ("Bug or Regression", 2), ("Uncategorized", 1)]
    for section in data["sections"]:
        for line in section["notes"]:
            assert f" - {line}" in page
    urgent = [n for n in data["notes"] if n["action_required"]]
    assert [(n["pr"], n["kind"], n["section"]) for n in urgent] == [(109, "deprecation", "Deprecation")]
    assert data["dependencies"]["changed"][0] == {"module": "github.com/opencontainers/runc", "from": "v1.5.1",
                                                  "to": "v1.5.2"}
    assert data["skipped"] == ["#108"]


def test_cli_failures_are_one_line_with_exit_42(scenario: Scenario, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", scenario.api.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    scenario.api.fault("/repos/cri-o/cri-o/pulls/101", "status:401")
    code, _out, err = cli(scenario, tmp_path)
    # the error is the last line, one line (warnings of other lookups may come before it)
    assert code == ExitCode.GITHUB and err.strip().splitlines()[-1].startswith("crio-release: error: GET ")
    assert "GitHub rejected the credentials (401: injected failure); GITHUB_TOKEN is invalid" in err
    assert TOKEN not in err
    scenario.api.fault("/repos/cri-o/cri-o/pulls/101", "forbidden")
    code, _out, err = cli(scenario, tmp_path)
    assert code == ExitCode.GITHUB and "refused access (403: Resource not accessible by integration)" in err
    # a reset further away than the allowed wait fails at once, saying when
    scenario.api.reset_in = 3600
    scenario.api.fault("/repos/cri-o/cri-o/pulls/101", "rate403")
    monkeypatch.setenv("CRIO_RELEASE_GITHUB_MAX_WAIT", "5")
    code, _out, err = cli(scenario, tmp_path)
    assert code == ExitCode.GITHUB and "rate limit resets in 36" in err and "longer than the 5 s allowed" in err
    # every pull request unknown: the repository is wrong
    code, _out, err = cli(scenario, tmp_path, "--github-repo", "cri-o/other")
    assert code == ExitCode.GITHUB and "none of the 6 pull request(s) of the range was found in cri-o/other" in err
    # 5xx until the retries run out
    scenario.api.fault("/repos/cri-o/cri-o/pulls/102", "status:503", times=10)
    monkeypatch.setenv("GITHUB_API_URL", scenario.api.url)
    code, _out, err = cli(scenario, tmp_path, "--max-wait", "0", "--refresh")  # max-wait also caps retry delays
    assert code == ExitCode.GITHUB and "GitHub answered 503, 4 times" in err
    assert err.count("retrying in 0 s") == 3


def test_auto_source_follows_the_remote(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_API_URL", scenario.api.url)
    args = ["notes", "--repo", str(scenario.repo), "--to", "v1.36.3", "--downloads", "contract", "--json",
            "--cache-dir", str(tmp_path / "c")]
    # origin is a local path: auto reads commit messages, which hold no notes, and asks GitHub nothing
    res = crio_release(*args)
    assert res.code == 0 and json.loads(res.out)["source"] == "git" and scenario.api.count() == 0
    git(scenario.repo, "remote", "set-url", "origin", "git@github.com:cri-o/cri-o.git")
    res = crio_release(*args)
    assert res.code == 0, res.err
    assert json.loads(res.out)["source"] == "github" and len(json.loads(res.out)["notes"]) == 5
    res = crio_release(*args, "--source", "git")
    assert json.loads(res.out)["source"] == "git"
    git(scenario.repo, "remote", "set-url", "origin", "/somewhere/else.git")
    res = crio_release(*args, "--source", "github")
    assert res.code == ExitCode.USAGE and "--source github needs the repository" in res.err
