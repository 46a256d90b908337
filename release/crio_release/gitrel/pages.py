"""Publish release notes to a GitHub pages branch in the layout the branch already has, pushed with retry.

Two layouts are recognised from the branch's tree:

* upstream's (cri-o/cri-o gh-pages, also used for a new branch): `vX.Y.Z.md`
  at the root and `README.md` as the site's home, whose "## Release Notes"
  list names every page as `- [vX.Y.Z](vX.Y.Z.md)`, newest first. The new
  line goes above the first older release (the top, for the newest); no
  `index.md` is ever created there, since it would replace the home page;
* this toolkit's earlier one (an `index.md` and `releases/`, no README.md):
  `releases/REV.md` and a regenerated `index.md`.

A page that is already there with the same content (its generation date
aside) and an index that already lists it make no commit at all. The branch
is written without being checked out (plumbing commits). When a concurrent
publisher pushed first, the push is rejected as non-fast-forward; then the
branch is fetched, the commit rebuilt on top of what won, and pushed again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import git

from crio.errors import CrioError, ExitCode
from crio.revision import Version
from crio_release.gitrel.notes import ReleaseNotes
from crio_release.gitrel.render import GENERATED_PREFIX
from crio_release.gitrel.repo import (
    GitRunner,
    checked_out_branch,
    file_at,
    git_failed,
    local_branch_sha,
    refused,
    remote_branch_sha,
)

UPSTREAM, INDEX = "upstream", "index"
NOTES_DIR = "releases"
INDEX_PAGE = "index.md"
README = "README.md"
LIST_HEADING = "## Release Notes"
_REJECTED_RE = re.compile(r"\[rejected\]|non-fast-forward|fetch first")
_ENTRY_RE = re.compile(r"^- \[([^\]]+)\]\(([^)]+)\)")


def detect_layout(repo: git.Repo, sha: str | None) -> str:
    """INDEX for a branch with index.md or releases/ and no README.md; UPSTREAM otherwise (also when new)."""
    if sha is None:
        return UPSTREAM
    tree = repo.commit(sha).tree
    blobs, trees = {b.name for b in tree.blobs}, {t.name for t in tree.trees}
    if README not in blobs and (INDEX_PAGE in blobs or NOTES_DIR in trees):
        return INDEX
    return UPSTREAM


def page_path(revision: str, layout: str = UPSTREAM) -> str:
    return f"{revision}.md" if layout == UPSTREAM else f"{NOTES_DIR}/{revision}.md"


def _order(revision: str) -> tuple:
    try:
        return (1, Version.parse(revision), "")
    except CrioError:
        return (0, Version(0, 0, 0), revision)


def readme_with(readme: str | None, revision: str) -> str:
    """README.md listing REVISION's page: replaced in place when listed, else above the first older release."""
    entry = f"- [{revision}]({page_path(revision)})"
    if readme is None:
        return f"# CRI-O release notes\n\n{LIST_HEADING}\n\n{entry}\n"
    lines = readme.split("\n")
    for i, line in enumerate(lines):
        match = _ENTRY_RE.match(line)
        if match and match.group(1) == revision:
            lines[i] = entry
            return "\n".join(lines)
    heading = next((i for i, line in enumerate(lines) if line.strip().lower() == LIST_HEADING.lower()), None)
    if heading is None:
        return f"{readme.rstrip(chr(10))}\n\n{LIST_HEADING}\n\n{entry}\n"
    entries: list[tuple[int, str]] = []  # (line index, revision) of the list under the heading
    for i in range(heading + 1, len(lines)):
        if lines[i].startswith("#"):
            break
        match = _ENTRY_RE.match(lines[i])
        if match:
            entries.append((i, match.group(1)))
    if not entries:
        gap = [] if heading + 1 < len(lines) and not lines[heading + 1].strip() else [""]
        at = heading + 1 + (0 if gap else 1)
        lines[at:at] = [*gap, entry]
        return "\n".join(lines)
    older = next((i for i, rev in entries if _order(rev) < _order(revision)), None)
    lines.insert(older if older is not None else entries[-1][0] + 1, entry)
    return "\n".join(lines)


def existing_pages(repo: git.Repo, sha: str | None) -> list[str]:
    """Revisions with a page under releases/ (the index layout)."""
    if sha is None:
        return []
    try:
        folder = repo.commit(sha).tree / NOTES_DIR
    except KeyError:
        return []
    return [b.name.removesuffix(".md") for b in folder.blobs if b.name.endswith(".md")]


def index_page(revisions: list[str]) -> str:
    """The index layout's index.md: releases newest first by semantic version, then commit pages by name."""
    lines = ["# CRI-O release notes", ""]
    for rev in sorted(set(revisions), key=_order, reverse=True):
        lines.append(f"- [{rev}]({page_path(rev, INDEX)})")
    return "\n".join(lines) + "\n"


def _same_page(old: str, new: str) -> bool:
    """Equal apart from the generation date line."""
    def strip(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith(GENERATED_PREFIX)]
    return strip(old) == strip(new)


def planned_files(repo: git.Repo, base: str | None, notes: ReleaseNotes) -> dict[str, str]:
    """The files a publish changes on top of BASE; empty when the page and the index are already there."""
    layout = detect_layout(repo, base)
    path = page_path(notes.revision, layout)
    page = notes.as_markdown()
    old_page = file_at(repo, base, path) if base else None
    files: dict[str, str] = {}
    if old_page is None or not _same_page(old_page[0], page):
        files[path] = page
    if layout == UPSTREAM:
        old = file_at(repo, base, README) if base else None
        readme = readme_with(old[0] if old else None, notes.revision)
        if old is None or old[0] != readme:
            files[README] = readme
    else:
        old = file_at(repo, base, INDEX_PAGE) if base else None
        index = index_page([*existing_pages(repo, base), notes.revision])
        if old is None or old[0] != index:
            files[INDEX_PAGE] = index
    return files


def _commit(runner: GitRunner, branch: str, base: str | None, current: str | None,
            notes: ReleaseNotes) -> str | None:
    files = planned_files(runner.repo, base, notes)
    if not files:
        return None
    return runner.commit_files(branch, base, files, f"Release notes for {notes.revision}",
                               replaces=current if current != base else True)


def publish_notes(repo: git.Repo, notes: ReleaseNotes, *, branch: str = "gh-pages", remote: str = "origin",
                  push: bool = False, dry_run: bool = False, retries: int = 3,
                  echo: Callable[[str], None] = print) -> str | None:
    """Commit NOTES' page and the index to BRANCH; with PUSH, push and retry up to RETRIES lost races.

    Returns the new commit, or None when the branch already holds this page and index (nothing committed).
    """
    if checked_out_branch(repo) == branch:
        raise refused(f"{branch} is checked out; notes publish writes it without a checkout, so switch branches")
    if retries < 0:
        raise CrioError("invalid --retries: expected 0 or more", ExitCode.USAGE)
    runner = GitRunner(repo, dry_run, echo)
    current = local_branch_sha(repo, branch)
    base = current or remote_branch_sha(repo, remote, branch)
    commit = _commit(runner, branch, base, current, notes)
    if commit is None:
        runner.note(f"{branch} already has the notes of {notes.revision} with the same content: nothing to commit")
        if current is None or not push:
            return None
    if not push:
        runner.note(f"not pushed (local only); pass --push to run: git push {remote} refs/heads/{branch}")
        return commit
    if dry_run:
        runner.note(f"when the push is rejected because another publisher won: git fetch {remote} "
                    f"refs/heads/{branch}, rebuild on top, push again (up to {retries} times)")
    for attempt in range(retries + 1):
        pushed, detail = runner.try_run(["push", remote, f"refs/heads/{branch}"])
        if pushed:
            return commit
        if not _REJECTED_RE.search(detail):
            raise git_failed(f"git push failed: {detail}")
        if attempt == retries:
            raise git_failed(f"push of {branch} to {remote} was rejected {attempt + 1} time(s) because others "
                             f"pushed first; run again or raise --retries")
        runner.run(["fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"])
        won = remote_branch_sha(repo, remote, branch)
        rebuilt = _commit(runner, branch, won, local_branch_sha(repo, branch), notes)
        if rebuilt is None:  # the winner published the same notes: the local branch follows it
            local = local_branch_sha(repo, branch)
            runner.run(["update-ref", f"refs/heads/{branch}", won or "", local or "0" * 40])
            return None
        commit = rebuilt
    return commit
