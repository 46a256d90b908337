"""Release notes as upstream writes them: release-note blocks, kinds, and the sections of Kubernetes' tool.

Parsing a pull request description (or a commit message):

* HTML comments are removed first, so a template that lists `/kind api-change`
  … inside `<!-- -->` says nothing about the pull request;
* the first ```release-note (or release-notes) block is the note; a block
  that is empty or says NONE / none / N/A is no note;
* the kinds are the `kind/*` labels, else the `/kind X` lines outside
  comments, else none (Uncategorized). With several, the highest in
  Kubernetes' priority order wins, so each note appears once.

Sections follow Kubernetes' release-notes tool (kubernetes/release
pkg/notes/document), which CRI-O's pages use: priority order deprecation,
api-change, feature, design, documentation, failing-test, bug, regression,
cleanup, flake, other, uncategorized; regression is filed under bug, and
cleanup and flake under "Other (Cleanup or Flake)"; titles "API Change",
"Failing Test", "Bug or Regression", otherwise the kind title-cased. Kinds
outside that list (CRI-O's `ci`, `dependency-change`, `other`) come first,
as upstream sorts them, by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OTHER = "Other (Cleanup or Flake)"
UNCATEGORIZED = "Uncategorized"
KIND_PRIORITY = ("deprecation", "api-change", "feature", "design", "documentation", "failing-test", "bug",
                 "regression", "cleanup", "flake", OTHER, UNCATEGORIZED)
KIND_MERGED = {"regression": "bug", "cleanup": OTHER, "flake": OTHER}
KIND_TITLES = {"api-change": "API Change", "failing-test": "Failing Test", "bug": "Bug or Regression",
               OTHER: OTHER, UNCATEGORIZED: UNCATEGORIZED}
ACTION_REQUIRED_LABEL = "release-note-action-required"
NONE_LABEL = "release-note-none"

_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_BLOCK_RE = re.compile(r"```release-notes?[ \t]*\r?\n(.*?)```", re.DOTALL)
_KIND_LINE_RE = re.compile(r"^[ \t]*/kind[ \t]+([A-Za-z0-9_-]+)[ \t]*\r?$", re.MULTILINE)
_ACTION_RE = re.compile(r"(?i)^\s*(?:\[action required\]|action required:)\s*")
_NO_NOTE = {"", "none", "n/a", "na"}


@dataclass(frozen=True)
class Note:
    """One release note and where it came from; `kind` is the raw kind (`bug`, `regression`, or None)."""

    text: str
    kind: str | None
    pr: int | None
    author: str
    commit: str
    action_required: bool = False

    @property
    def section(self) -> str:
        return section_of(self.kind)

    def markdown(self) -> str:
        """`Text (#N, @author)` with continuation lines indented, as upstream renders a note."""
        ref = f"#{self.pr}" if self.pr is not None else self.commit[:12]
        who = f", @{self.author}" if self.author else ""
        body = self.text[:1].upper() + self.text[1:]
        return f"{body.replace(chr(10), chr(10) + '  ')} ({ref}{who})"


def strip_comments(text: str) -> str:
    """TEXT without HTML comments (an unterminated one runs to the end, as browsers hide it)."""
    return _COMMENT_RE.sub("", text) if "<!--" in text else text


def release_note_text(body: str) -> str | None:
    """The note of a description: the first release-note block outside comments, None when none or NONE."""
    if "```release-note" not in body:
        return None
    match = _BLOCK_RE.search(strip_comments(body.replace("\r\n", "\n") if "\r" in body else body))
    if not match:
        return None
    text = match.group(1).strip()
    if text.strip('"').strip().lower() in _NO_NOTE:
        return None
    return clean_note(text)


def clean_note(text: str) -> str:
    """Upstream's tidying: no `action required` prefix, no bullet on a one-line note, no trailing spaces."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if len(lines) == 1 and lines[0][:1] in ("-", "*"):
        lines[0] = re.sub(r"^[-*]+\s+", "", lines[0])
    joined = "\n".join(lines)
    return _ACTION_RE.sub("", joined).strip() if "action required" in joined[:40].lower() else joined


def kinds_of(labels: tuple[str, ...], body: str) -> list[str]:
    """`kind/*` labels, else `/kind X` lines outside HTML comments."""
    from_labels = [label.removeprefix("kind/").lower() for label in labels if label.startswith("kind/")]
    if from_labels:
        return from_labels
    if "/kind" not in body:
        return []
    return [kind.lower() for kind in _KIND_LINE_RE.findall(strip_comments(body.replace("\r\n", "\n")))]


def primary_kind(kinds: list[str]) -> str | None:
    """The highest-priority kind, else the first one, else None."""
    for kind in KIND_PRIORITY:
        if kind in kinds:
            return kind
    return kinds[0] if kinds else None


def section_of(kind: str | None) -> str:
    """The section title a kind is filed under."""
    if kind is None:
        return UNCATEGORIZED
    mapped = KIND_MERGED.get(kind, kind)
    if mapped in KIND_TITLES:
        return KIND_TITLES[mapped]
    return "-".join(part[:1].upper() + part[1:] for part in mapped.split("-"))


def _section_rank(title: str) -> tuple[int, str]:
    known = [section_of(kind) for kind in KIND_PRIORITY]
    return (known.index(title) + 1, "") if title in known else (0, title)


def group_by_section(notes: list[Note]) -> list[tuple[str, list[str]]]:
    """(section title, sorted note lines) in upstream's order; action-required notes are left out."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        if not note.action_required:
            groups.setdefault(note.section, []).append(note.markdown())
    return [(title, sorted(groups[title])) for title in sorted(groups, key=_section_rank)]
