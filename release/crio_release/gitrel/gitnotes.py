"""The git-only notes source: release-note blocks in commit messages, for squash-merge projects.

A project whose squash merges keep the pull request description in the
commit message (this one) needs no GitHub API: the blocks, `/kind` lines and
pull request numbers are all in git. The whole range is read (not only
first parents), since squash commits and merged branches both carry them;
a pull request is listed once. The description is parsed exactly as a pull
request's (prnotes); with no `/kind` line, a conventional-commit prefix of
the title (`fix:`, `feat:` …) gives the kind.
"""

from __future__ import annotations

import re

import git

from crio_release.gitrel.prnotes import Note, kinds_of, primary_kind, release_note_text
from crio_release.gitrel.prsource import MERGE_RE, SQUASH_RE

_CONVENTIONAL_RE = re.compile(r"^(?P<type>[a-z]+)(?:\([^)]*\))?!?:\s")

#: Conventional-commit types -> the /kind they mean.
CONVENTIONAL_KINDS = {
    "feat": "feature", "fix": "bug", "docs": "documentation", "perf": "feature",
    "refactor": "cleanup", "chore": "cleanup", "test": "cleanup", "build": "cleanup", "ci": "cleanup",
    "revert": "bug", "deps": "cleanup",
}


def kind_of(message: str, title: str) -> str | None:
    """The /kind of a message (outside HTML comments), else its title's conventional prefix, else None."""
    kind = primary_kind(kinds_of((), message))
    if kind is not None:
        return kind
    conv = _CONVENTIONAL_RE.match(title)
    return CONVENTIONAL_KINDS.get(conv.group("type")) if conv else None


def note_of_message(sha: str, author_name: str, message: str) -> Note | None:
    """A note from a commit's message; a merge's author is the PR's user, a squash's its commit author."""
    text = release_note_text(message)
    if text is None:
        return None
    subject, _, body = message.partition("\n")
    merge = MERGE_RE.match(subject)
    if merge:
        pr: int | None = int(merge.group(1))
        author = merge.group(2)
        title = body.strip().partition("\n")[0]
    else:
        squash = SQUASH_RE.search(subject)
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
