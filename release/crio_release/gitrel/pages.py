"""Publish release notes to a gh-pages-style branch: one page per revision and an index, pushed with retry.

The branch is written without being checked out (plumbing commits). When a
concurrent publisher pushed first, the push is rejected as non-fast-forward;
then the branch is fetched, the commit rebuilt on top of what won (so both
pages survive and the index lists both), and the push retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import git

from crio.errors import CrioError, ExitCode
from crio.revision import Version
from crio_release.gitrel.notes import ReleaseNotes
from crio_release.gitrel.repo import (
    GitRunner,
    checked_out_branch,
    git_failed,
    local_branch_sha,
    refused,
    remote_branch_sha,
)

NOTES_DIR = "releases"
INDEX_PAGE = "index.md"
_REJECTED_RE = re.compile(r"\[rejected\]|non-fast-forward|fetch first")


def page_path(revision: str) -> str:
    return f"{NOTES_DIR}/{revision}.md"


def existing_pages(repo: git.Repo, sha: str | None) -> list[str]:
    """Revisions with a page on the branch at SHA."""
    if sha is None:
        return []
    try:
        folder = repo.commit(sha).tree / NOTES_DIR
    except KeyError:
        return []
    return [b.name.removesuffix(".md") for b in folder.blobs if b.name.endswith(".md")]


def _order(revision: str) -> tuple:
    try:
        return (1, Version.parse(revision), "")
    except CrioError:
        return (0, Version(0, 0, 0), revision)


def index_page(revisions: list[str]) -> str:
    """Markdown index: releases newest first by semantic version, then commit pages by name."""
    lines = ["# CRI-O release notes", ""]
    for rev in sorted(set(revisions), key=_order, reverse=True):
        lines.append(f"- [{rev}]({page_path(rev)})")
    return "\n".join(lines) + "\n"


def _commit(runner: GitRunner, branch: str, base: str | None, current: str | None, notes: ReleaseNotes) -> str:
    pages = [*existing_pages(runner.repo, base), notes.revision]
    files = {page_path(notes.revision): notes.as_markdown(), INDEX_PAGE: index_page(pages)}
    return runner.commit_files(branch, base, files, f"Release notes for {notes.revision}",
                               replaces=current if current != base else True)


def publish_notes(repo: git.Repo, notes: ReleaseNotes, *, branch: str = "gh-pages", remote: str = "origin",
                  push: bool = False, dry_run: bool = False, retries: int = 3,
                  echo: Callable[[str], None] = print) -> str:
    """Commit NOTES' page and the index to BRANCH; with PUSH, push and retry up to RETRIES lost races."""
    if checked_out_branch(repo) == branch:
        raise refused(f"{branch} is checked out; notes publish writes it without a checkout, so switch branches")
    if retries < 0:
        raise CrioError("invalid --retries: expected 0 or more", ExitCode.USAGE)
    runner = GitRunner(repo, dry_run, echo)
    current = local_branch_sha(repo, branch)
    base = current or remote_branch_sha(repo, remote, branch)
    commit = _commit(runner, branch, base, current, notes)
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
        commit = _commit(runner, branch, won, commit, notes)
    return commit
