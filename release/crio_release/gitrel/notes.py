"""Release notes of a range: notes from pull requests (or commit messages), downloads, dependencies.

The range is FROM..TO in git's sense (commits reachable from TO, not from
FROM). Without FROM, the previous tag is chosen among the version tags that
are ancestors of TO, by semantic version (never by text):

* a pre-release (v1.22.0-rc.2) follows the highest lower tag of any kind (v1.22.0-rc.1);
* a release follows the highest lower *release* of its own minor (v1.22.1 -> v1.22.0);
* the first release of a minor (v1.22.0) follows the highest release of an
  older minor that is an ancestor (v1.21.0, forwarded from main before the
  cut), never a tag made later on another release branch (v1.21.5).

Notes come from GitHub pull requests (prsource) when a PullRequestSource is
given, else from release-note blocks in commit messages (gitnotes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import git

from crio.errors import CrioError, ExitCode
from crio.revision import Revision, Version, parse_revision
from crio_release.gitrel.downloads import Downloads, revision_downloads
from crio_release.gitrel.ghcache import ResponseCache
from crio_release.gitrel.github import DEFAULT_API_URL, GitHubClient
from crio_release.gitrel.gitnotes import collect_notes
from crio_release.gitrel.godeps import DependencyChanges, dependency_changes
from crio_release.gitrel.prnotes import Note, group_by_section
from crio_release.gitrel.prsource import REPOSITORY_RE, PullRequestSource, github_repository_of
from crio_release.gitrel.render import render_page
from crio_release.gitrel.repo import is_ancestor, rev_sha, version_tags

# Previous tag ------------------------------------------------------------------


def previous_tag(repo: git.Repo, to: str) -> str | None:
    """The tag release notes for TO start from (see the module docstring for the rule)."""
    tip = rev_sha(repo, to)
    target = _version_of(to)
    ancestors = version_tags(repo, merged_into=tip)
    if target is None:
        candidates = [v for v, sha in ancestors.items() if sha != tip]
        return max(candidates).tag if candidates else None
    lower = [v for v in ancestors if v < target]
    if target.is_prerelease:
        return max(lower).tag if lower else None
    finals = [v for v in lower if not v.is_prerelease]
    same = [v for v in finals if (v.major, v.minor) == (target.major, target.minor)]
    return max(same or finals).tag if (same or finals) else None


def _version_of(rev: str) -> Version | None:
    if not rev.startswith("v"):
        return None
    try:
        return Version.parse(rev)
    except CrioError:
        return None


# The notes of a range -------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseNotes:
    title: str
    revision: str
    from_rev: str | None
    to_rev: str
    from_sha: str | None
    to_sha: str
    downloads: Downloads
    notes: list[Note]
    base_url: str
    source: str = "git"
    repository: str | None = None
    web_url: str | None = None
    dependencies: DependencyChanges | None = None
    skipped: list[str] = field(default_factory=list)
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def by_kind(self) -> list[tuple[str, list[str]]]:
        """(section title, note lines) in upstream's order."""
        return group_by_section(self.notes)

    def as_json(self) -> str:
        """The page's content as JSON: the same notes, sections, downloads and dependencies."""
        data = {
            "title": self.title, "revision": self.revision, "from": self.from_rev, "to": self.to_rev,
            "from_commit": self.from_sha, "to_commit": self.to_sha, "source": self.source,
            "repository": self.repository, "generated": self.generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "downloads": self.downloads.links(), "download_files": self.downloads.as_dict(),
            "notes": [{**asdict(n), "section": n.section, "markdown": n.markdown()} for n in self.notes],
            "sections": [{"title": title, "notes": lines} for title, lines in self.by_kind()],
            "dependencies": self.dependencies.as_dict() if self.dependencies else None,
            "skipped": self.skipped,
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def as_markdown(self) -> str:
        return render_page(self)


@dataclass
class NotesSource:
    """Where notes and downloads come from: pull requests (PRS) or git; the bucket or the contract."""

    base_url: str
    archs: tuple[str, ...] | None = None
    downloads: str = "auto"
    prs: PullRequestSource | None = None
    web_url: str | None = None
    warn: Callable[[str], None] = print


SOURCES = ("auto", "github", "git")


@dataclass(frozen=True)
class GitHubSettings:
    """How to reach GitHub for notes from pull requests (CLI options and GITHUB_* variables)."""

    repository: str | None = None
    remote: str = "origin"
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    cache_dir: Path | None = None
    refresh: bool = False
    max_wait: float = 900.0
    progress: bool | None = None


def web_url_of(repository: str) -> str:
    """The repository's web address (GITHUB_SERVER_URL for GitHub Enterprise, as Actions sets it)."""
    server = os.environ.get("GITHUB_SERVER_URL", "").strip().rstrip("/") or "https://github.com"
    return f"{server}/{repository}"


def pull_request_source(repo: git.Repo, choice: str, settings: GitHubSettings,
                        warn: Callable[[str], None] = print) -> PullRequestSource | None:
    """The GitHub source for CHOICE: `github` needs a repository, `auto` uses one when the remote is GitHub."""
    if choice not in SOURCES:
        raise CrioError(f"invalid --source {choice!r}: expected one of {', '.join(SOURCES)}", ExitCode.USAGE)
    if choice == "git":
        return None
    slug = settings.repository or github_repository_of(repo, settings.remote)
    if slug is None:
        if choice == "github":
            raise CrioError(f"--source github needs the repository: pass --github-repo OWNER/NAME ({settings.remote}"
                            " is not a GitHub URL)", ExitCode.USAGE)
        return None
    if not REPOSITORY_RE.match(slug):
        raise CrioError(f"invalid --github-repo {slug!r}: expected OWNER/NAME such as cri-o/cri-o", ExitCode.USAGE)
    client = GitHubClient(settings.api_url, settings.token, max_wait=settings.max_wait)
    cache = ResponseCache(settings.cache_dir, settings.api_url, slug)
    return PullRequestSource(client, slug, cache, settings.refresh, settings.progress, warn)


def build_notes(repo: git.Repo, to: str, from_rev: str | None, source: NotesSource) -> ReleaseNotes:
    """Release notes for FROM..TO (FROM found by `previous_tag` when not given)."""
    to_sha = rev_sha(repo, to)
    start = from_rev if from_rev is not None else previous_tag(repo, to)
    from_sha = rev_sha(repo, start) if start else None
    if from_sha and not is_ancestor(repo, from_sha, to_sha):
        raise CrioError(f"--from {start} is not an ancestor of --to {to}: the range would include unrelated "
                        "history; pass an older tag of the same branch", ExitCode.REFUSED)
    revision = revision_of(to, to_sha)
    downloads = revision_downloads(source.base_url, revision, source.archs, source.downloads, warn=source.warn)
    skipped: list[str] = []
    if source.prs is not None:
        fetched = source.prs.collect(repo, from_sha, to_sha)
        notes, skipped = fetched.notes, fetched.skipped
    else:
        notes = collect_notes(repo, from_sha, to_sha)
    return ReleaseNotes(
        f"CRI-O {revision}", str(revision), start, to, from_sha, to_sha, downloads, notes, source.base_url,
        source="github" if source.prs else "git", repository=source.prs.repository if source.prs else None,
        web_url=source.web_url, dependencies=dependency_changes(repo, from_sha, to_sha), skipped=skipped)


def revision_of(to: str, sha: str) -> Revision:
    """TO's artifact revision: the tag version for a version tag, else the full commit SHA."""
    version = _version_of(to)
    return Revision(version=version) if version is not None else parse_revision(sha)
