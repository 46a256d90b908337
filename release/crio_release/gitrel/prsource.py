"""Release notes from pull requests: the commits of a range -> their pull requests -> notes.

The range is walked along first parents (the history of the branch itself,
as upstream's tool does), so the commits inside a merged pull request are
not asked about one by one. A commit's pull request comes from its subject
("Merge pull request #N from user/branch", or a squash merge's "title (#N)"),
else from GitHub's "pull requests of a commit" endpoint. Each pull request is
then read once (`GET /repos/O/R/pulls/N`: description, labels, author), at
most one request per pull request, several in parallel, every answer cached
(see ghcache). A 404 skips that note with a warning; when every lookup is a
404 the repository is wrong, which is an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import git
from tqdm import tqdm

from crio_release.gitrel.ghcache import ResponseCache
from crio_release.gitrel.github import GitHubClient, GitHubError, GitHubNotFound
from crio_release.gitrel.prnotes import (
    ACTION_REQUIRED_LABEL,
    NONE_LABEL,
    Note,
    kinds_of,
    primary_kind,
    release_note_text,
)

MERGE_RE = re.compile(r"^Merge pull request #(\d+) from ([^/\s]+)/")
SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")
WORKERS = 8
#: Cache entry of a pull request GitHub answered 404 for (written only when the run found others).
MISSING = {"missing": True}
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REMOTE_RE = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?|[^@/]+@)(?P<host>[^/:]+)(?::\d+)?[/:]"
                        r"(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def web_hosts() -> tuple[str, ...]:
    """github.com, and the host of GITHUB_SERVER_URL (GitHub Enterprise in Actions)."""
    server = urlsplit(os.environ.get("GITHUB_SERVER_URL", "")).hostname
    return ("github.com", server) if server and server != "github.com" else ("github.com",)


def github_repository_of(repo: git.Repo, remote: str = "origin") -> str | None:
    """OWNER/NAME of REMOTE's URL when it is a GitHub repository, else None."""
    try:
        url = repo.git.remote("get-url", remote).strip()
    except git.GitCommandError:
        return None
    match = _REMOTE_RE.match(url)
    if not match or match["host"].lower() not in web_hosts():
        return None
    return match["slug"]


@dataclass(frozen=True)
class PullRequest:
    """What a note needs of a pull request (also the cache entry's shape)."""

    number: int
    title: str
    body: str
    labels: tuple[str, ...]
    author: str
    merged: bool

    @classmethod
    def from_api(cls, data: Any) -> PullRequest:
        """Validate GitHub's (or the cache's) JSON; ValueError when it does not have the expected shape."""
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            raise ValueError("not a pull request")
        labels = data.get("labels") or []
        names = tuple(str(x["name"]) if isinstance(x, dict) else str(x) for x in labels)
        user = data.get("user") if isinstance(data.get("user"), dict) else {}
        author = data.get("author", user.get("login", ""))
        merged = bool(data["merged"]) if "merged" in data else bool(data.get("merged_at"))
        body, title = data.get("body") or "", data.get("title") or ""
        if not all(isinstance(x, str) for x in (body, title, author)):
            raise ValueError("wrong field types")
        return cls(data["number"], title, body, names, author, merged)

    def note(self, commit: str) -> Note | None:
        if NONE_LABEL in self.labels:
            return None
        text = release_note_text(self.body)
        if text is None:
            return None
        kind = primary_kind(kinds_of(self.labels, self.body))
        return Note(text, kind, self.number, self.author, commit, ACTION_REQUIRED_LABEL in self.labels)


def pr_number_of(subject: str) -> int | None:
    """The pull request a merge or squash commit's subject names."""
    match = MERGE_RE.match(subject) or SQUASH_RE.search(subject)
    return int(match.group(1)) if match else None


def first_parent_commits(repo: git.Repo, base: str | None, tip: str) -> list[tuple[str, str]]:
    """(sha, subject) of TIP's first-parent history not reachable from BASE, oldest first."""
    spec = f"{base}..{tip}" if base else tip
    out = repo.git.log("--first-parent", "--reverse", "-z", "--format=%H %s", spec, "--")
    return [(line[:40], line[41:]) for line in out.split("\0") if line.strip()]


@dataclass
class FetchResult:
    notes: list[Note]
    skipped: list[str] = field(default_factory=list)
    requests: int = 0
    pull_requests: int = 0


@dataclass
class PullRequestSource:
    """Fetches a range's pull requests from one repository through one client and cache."""

    client: GitHubClient
    repository: str
    cache: ResponseCache
    refresh: bool = False
    progress: bool | None = None
    warn: Callable[[str], None] = print
    _prs: dict[int, PullRequest] = field(default_factory=dict)

    def _store(self, pr: PullRequest) -> None:
        self._prs[pr.number] = pr
        self.cache.put("pr", str(pr.number), asdict(pr))

    def fetch_pr(self, number: int) -> PullRequest | None:
        """One pull request: memory, cache, else one GET; None (with a warning) when GitHub says 404."""
        if number in self._prs:
            return self._prs[number]
        cached = None if self.refresh else self.cache.get("pr", str(number))
        if cached == MISSING:
            self.warn(f"warning: pull request #{number} is not in {self.repository} (404, cached; --refresh asks "
                      "again); its note is skipped")
            return None
        try:
            pr = PullRequest.from_api(cached) if cached is not None else None
        except (ValueError, KeyError, TypeError):
            pr = None  # a damaged entry is refetched
        if pr is not None:
            self._prs[number] = pr
            return pr
        try:
            pr = PullRequest.from_api(self.client.get_json(f"repos/{self.repository}/pulls/{number}"))
        except GitHubNotFound:
            self.warn(f"warning: pull request #{number} not found in {self.repository} (404); its note is skipped")
            return None
        except ValueError:
            raise GitHubError(f"GET repos/{self.repository}/pulls/{number}: not a pull request") from None
        self._store(pr)
        return pr

    def prs_of_commit(self, sha: str) -> list[int] | None:
        """Merged pull requests that brought SHA (cached); None (with a warning) when GitHub does not know it."""
        cached = None if self.refresh else self.cache.get("commit", sha)
        if isinstance(cached, list) and all(isinstance(n, int) for n in cached):
            return cached
        try:
            items = list(self.client.paginate(f"repos/{self.repository}/commits/{sha}/pulls"))
        except GitHubNotFound:
            self.warn(f"warning: commit {sha[:12]} is not known to {self.repository} on GitHub; skipped")
            return None
        merged = []
        for item in items:
            try:
                pr = PullRequest.from_api(item)
            except ValueError:
                continue
            if pr.merged:
                self._store(pr)
                # the pull request whose merge (or squash) commit is SHA itself comes first
                exact = isinstance(item, dict) and item.get("merge_commit_sha") == sha
                merged.insert(0 if exact else len(merged), pr.number)
        numbers = merged[:1]
        self.cache.put("commit", sha, numbers)
        return numbers

    def collect(self, repo: git.Repo, base: str | None, tip: str) -> FetchResult:
        """Notes of BASE..TIP's first-parent commits, oldest first, one per pull request."""
        before = self.client.requests
        commits = first_parent_commits(repo, base, tip)
        by_commit: dict[str, int] = {}
        unknown = []
        for sha, subject in commits:
            number = pr_number_of(subject)
            if number is None:
                unknown.append(sha)
            else:
                by_commit[sha] = number
        lookups = self._parallel(self.prs_of_commit, unknown, "commits")
        for sha, numbers in zip(unknown, lookups, strict=True):
            if numbers:
                by_commit[sha] = numbers[0]
        wanted = list(dict.fromkeys(by_commit[sha] for sha, _ in commits if sha in by_commit))
        fetched = dict(zip(wanted, self._parallel(self.fetch_pr, wanted, "pull requests"), strict=True))
        missing = [n for n, pr in fetched.items() if pr is None]
        if wanted and len(missing) == len(wanted):
            raise GitHubError(f"none of the {len(wanted)} pull request(s) of the range was found in "
                              f"{self.repository}: wrong --github-repo, or a private repository without GITHUB_TOKEN")
        for number in missing:
            self.cache.put("pr", str(number), MISSING)
        notes, seen = [], set()
        for sha, _ in commits:
            pr = fetched.get(by_commit.get(sha, -1))
            if pr is None or pr.number in seen:
                continue
            seen.add(pr.number)
            note = pr.note(sha)
            if note is not None:
                notes.append(note)
        skipped = [f"#{n}" for n in missing] + [sha[:12] for sha, got in zip(unknown, lookups, strict=True)
                                                if got is None]
        return FetchResult(notes, skipped, self.client.requests - before, len(wanted))

    def _parallel(self, fn: Callable[[Any], Any], items: list[Any], what: str) -> list[Any]:
        """FN over ITEMS on a few threads, in order, with a progress bar on stderr when it is a terminal."""
        if not items:
            return []
        # progress None: tqdm shows the bar only when stderr is a terminal
        hidden = True if self.progress is False else None
        with tqdm(total=len(items), desc=f"GitHub {what}", unit="req", disable=hidden, leave=False) as bar, \
                ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(fn, item) for item in items]
            results = []
            try:
                for future in futures:
                    results.append(future.result())
                    bar.update(1)
            except BaseException:
                for future in futures:  # one failure ends the run: queued lookups are not sent
                    future.cancel()
                raise
        return results
