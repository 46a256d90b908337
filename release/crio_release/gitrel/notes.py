"""Release notes from git history: release-note blocks of merge and squash commits, grouped by kind.

The range is FROM..TO in git's sense (commits reachable from TO, not from
FROM). Without FROM, the previous tag is chosen among the version tags that
are ancestors of TO, by semantic version (never by text):

* a pre-release (v1.22.0-rc.2) follows the highest lower tag of any kind (v1.22.0-rc.1);
* a release follows the highest lower *release* of its own minor (v1.22.1 -> v1.22.0);
* the first release of a minor (v1.22.0) follows the highest release of an
  older minor that is an ancestor (v1.21.0, forwarded from main before the
  cut), never a tag made later on another release branch (v1.21.5).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import git

from crio.arch import ARCHITECTURES
from crio.artifacts import download_links
from crio.errors import CrioError, ExitCode
from crio.revision import Revision, Version, parse_revision
from crio_release.gitrel.repo import is_ancestor, rev_sha, version_tags

_BLOCK_RE = re.compile(r"```release-notes?[ \t]*\r?\n(.*?)\r?\n?```", re.DOTALL)
_KIND_RE = re.compile(r"^/kind\s+([A-Za-z0-9_-]+)\s*$", re.MULTILINE)
_MERGE_RE = re.compile(r"^Merge pull request #(\d+) from ([^/\s]+)/")
_SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")
_CONVENTIONAL_RE = re.compile(r"^(?P<type>[a-z]+)(?:\([^)]*\))?!?:\s")

#: Conventional-commit types -> the /kind they mean.
CONVENTIONAL_KINDS = {
    "feat": "feature", "fix": "bug", "docs": "documentation", "perf": "performance",
    "refactor": "cleanup", "chore": "cleanup", "test": "cleanup", "build": "cleanup", "ci": "cleanup",
    "revert": "bug", "deps": "dependency",
}

#: Section order and titles; kinds not listed are titled after their name, before `other`.
KIND_TITLES = {
    "api-change": "API change",
    "deprecation": "Deprecation",
    "feature": "Features",
    "bug": "Bug or regression",
    "regression": "Bug or regression",
    "performance": "Performance",
    "documentation": "Documentation",
    "dependency": "Dependencies",
    "cleanup": "Other (cleanup or flake)",
    "flake": "Other (cleanup or flake)",
    "failing-test": "Other (cleanup or flake)",
    "other": "Other",
}


@dataclass(frozen=True)
class Note:
    """One release note: the text of a release-note block and where it came from."""

    text: str
    kind: str
    pr: int | None
    author: str
    commit: str


def release_note_text(message: str) -> str | None:
    """The release-note block's text, or None when there is none or it says NONE."""
    match = _BLOCK_RE.search(message)
    if not match:
        return None
    text = match.group(1).strip()
    if not text or text.strip().upper() in ("NONE", "N/A", "NA"):
        return None
    return text


def kind_of(message: str, title: str) -> str:
    """The /kind line of the description, else the conventional-commit prefix of the title, else `other`."""
    match = _KIND_RE.search(message)
    if match:
        return match.group(1).lower()
    conv = _CONVENTIONAL_RE.match(title)
    if conv:
        return CONVENTIONAL_KINDS.get(conv.group("type"), "other")
    return "other"


def note_of_message(sha: str, author_name: str, message: str) -> Note | None:
    """A note from a commit's message; a merge's author is the PR's user, a squash's its commit author."""
    text = release_note_text(message)
    if text is None:
        return None
    subject, _, body = message.partition("\n")
    merge = _MERGE_RE.match(subject)
    if merge:
        pr: int | None = int(merge.group(1))
        author = merge.group(2)
        title = body.strip().partition("\n")[0]
    else:
        squash = _SQUASH_RE.search(subject)
        pr = int(squash.group(1)) if squash else None
        author = author_name
        title = subject
    return Note(text, kind_of(message, title), pr, author, sha)


def collect_notes(repo: git.Repo, base: str | None, tip: str) -> list[Note]:
    """Notes of every commit in BASE..TIP (all of TIP's history without BASE), oldest first, one per PR.

    One `git log` with NUL-separated fields: parsing thousands of messages
    through per-commit object reads would be ten times slower.
    """
    spec = f"{base}..{tip}" if base else tip
    raw = repo.git.log("--reverse", "-z", "--format=%H%x00%an%x00%B", spec, "--", strip_newline_in_stdout=False)
    fields = raw.split("\0")
    notes: list[Note] = []
    seen: set[int] = set()
    for i in range(0, len(fields) - 2, 3):
        note = note_of_message(fields[i].strip(), fields[i + 1], fields[i + 2])
        if note is None:
            continue
        if note.pr is not None:
            if note.pr in seen:
                continue
            seen.add(note.pr)
        notes.append(note)
    return notes


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


# Rendering -------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseNotes:
    title: str
    revision: str
    from_rev: str | None
    to_rev: str
    from_sha: str | None
    to_sha: str
    downloads: dict[str, dict[str, str]]
    notes: list[Note]

    def by_kind(self) -> list[tuple[str, list[Note]]]:
        order = list(dict.fromkeys(KIND_TITLES.values()))
        groups: dict[str, list[Note]] = {}
        for note in self.notes:
            groups.setdefault(KIND_TITLES.get(note.kind, note.kind.replace("-", " ").capitalize()), []).append(note)
        known = [t for t in order if t in groups and t != "Other"]
        unknown = sorted(t for t in groups if t not in order)
        tail = ["Other"] if "Other" in groups else []
        return [(t, groups[t]) for t in known + unknown + tail]

    def as_json(self) -> str:
        data = {
            "title": self.title, "revision": self.revision, "from": self.from_rev, "to": self.to_rev,
            "from_commit": self.from_sha, "to_commit": self.to_sha, "downloads": self.downloads,
            "notes": [asdict(n) for n in self.notes],
        }
        return json.dumps(data, indent=2) + "\n"

    def as_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        if self.from_rev:
            lines += [f"Changes since {self.from_rev} ({(self.from_sha or '')[:12]}..{self.to_sha[:12]}).", ""]
        else:
            lines += [f"All changes up to {self.to_sha[:12]}.", ""]
        lines += ["## Downloads", "", "| Architecture | Tarball | Checksum | SBOM | Signature |",
                  "| --- | --- | --- | --- | --- |"]
        for arch, links in self.downloads.items():
            tarball = links["tarball"].rsplit("/", 1)[-1]
            lines.append(f"| {arch} | [{tarball}]({links['tarball']}) | [sha256sum]({links['checksum']}) "
                         f"| [SPDX]({links['sbom']}) | [sig]({links['signature']}) |")
        lines += ["", "## Changes by kind", ""]
        groups = self.by_kind()
        if not groups:
            lines += ["No user-facing changes.", ""]
        for title, notes in groups:
            lines += [f"### {title}", ""]
            for note in notes:
                ref = ", ".join(x for x in (f"#{note.pr}" if note.pr else note.commit[:12], f"@{note.author}") if x)
                first, *rest = note.text.splitlines()
                lines.append(f"- {first}" + (f" ({ref})" if not rest else ""))
                lines += [f"  {line}".rstrip() for line in rest]
                if rest:
                    lines.append(f"  ({ref})")
            lines.append("")
        return "\n".join(lines)


def build_notes(repo: git.Repo, to: str, from_rev: str | None = None, *, base_url: str,
                archs: tuple[str, ...] = ARCHITECTURES) -> ReleaseNotes:
    """Release notes for FROM..TO (FROM found by `previous_tag` when not given) with download links of TO."""
    to_sha = rev_sha(repo, to)
    start = from_rev if from_rev is not None else previous_tag(repo, to)
    from_sha = rev_sha(repo, start) if start else None
    if from_sha and not is_ancestor(repo, from_sha, to_sha):
        raise CrioError(f"--from {start} is not an ancestor of --to {to}: the range would include unrelated "
                        "history; pass an older tag of the same branch", ExitCode.REFUSED)
    revision = revision_of(to, to_sha)
    title = f"CRI-O {revision}"
    return ReleaseNotes(title, str(revision), start, to, from_sha, to_sha,
                        download_links(base_url, revision, archs), collect_notes(repo, from_sha, to_sha))


def revision_of(to: str, sha: str) -> Revision:
    """TO's artifact revision: the tag version for a version tag, else the full commit SHA."""
    version = _version_of(to)
    return Revision(version=version) if version is not None else parse_revision(sha)
