"""Markers (`latest-*.txt`): which revision each names, whether that set is complete, and moving them forward.

A marker is written only by compare-and-swap on its generation (0 = must not
exist yet) and retried with a fresh read on conflict, so concurrent publishers
never lose an update; it moves only forward (tags by semantic version, commits
by git ancestry) and never to a revision whose set is incomplete in the
bucket (the rule is completeness.py's). Upstream wrote markers blindly, which let an older tag move a marker
backwards and let a marker name artifacts not yet published.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from crio.artifacts import MARKER_CACHE_CONTROL, MarkerMove
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker
from crio.revision import Revision
from crio_release.publish.completeness import revision_problems
from crio_release.publish.storage import PreconditionFailed, Storage, open_bucket

MARKER_CONTENT_TYPE = "text/plain"
#: Compare-and-swap attempts before giving up; each failed attempt means another writer progressed.
CAS_ATTEMPTS = 40


def _marker_text(revision: Revision) -> bytes:
    return f"{revision}\n".encode()


def _parse_marker(marker: str, data: bytes) -> Revision:
    """The installers' rule (crio.marker), failing with the publisher's code: a person must look first."""
    try:
        return read_marker(data, marker)
    except CrioError as exc:
        raise CrioError(f"{exc.message}: fix it by hand first", ExitCode.MARKER) from None


def compare(marker: str, current: Revision, new: Revision, repo: Path | None) -> int:
    """-1 if `new` is older than `current`, 0 if the same, 1 if newer; raise when it cannot be known."""
    if current == new:
        return 0
    if current.is_tag != new.is_tag:
        raise CrioError(f"marker {marker} names {current}, which cannot be ordered against {new}", ExitCode.MARKER)
    if current.version is not None and new.version is not None:
        return 1 if new.version > current.version else -1
    if repo is None:
        raise CrioError(
            f"cannot tell whether {new} is newer than {current} (named by {marker}) without a repository: "
            "pass --repo PATH of a clone holding both commits; refusing to guess", ExitCode.MARKER)
    return _git_order(marker, str(current), str(new), repo)


def _git_order(marker: str, current: str, new: str, repo: Path) -> int:
    import git

    try:
        repository = git.Repo(repo)
        if repository.is_ancestor(current, new):
            return 1
        if repository.is_ancestor(new, current):
            return -1
    except git.exc.GitCommandError as exc:
        raise CrioError(f"git cannot order {new} against {current} (named by {marker}) in {repo}: "
                        f"{' '.join(str(exc.stderr).split()) or exc}; fetch both commits", ExitCode.MARKER) from None
    except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError):
        raise CrioError(f"--repo {repo} is not a git repository", ExitCode.MARKER) from None
    raise CrioError(f"{new} and {current} (named by {marker}) have diverged: neither contains the other; "
                    "refusing to move the marker", ExitCode.MARKER)


class MarkerOutcome(StrEnum):
    """What a publish does to one marker: moves it (PLANNED until written), or leaves it."""

    PLANNED = "planned"
    MOVED = "moved"
    UNCHANGED = "unchanged"   # already names the revision
    NEWER = "newer"           # names a newer revision, which stays


@dataclass
class MarkerResult:
    """What happened (or would happen) to one marker."""

    marker: str
    revision: str
    previous: str | None
    precondition: int
    outcome: MarkerOutcome
    message: str

    def line(self) -> str:
        return f"marker {self.marker}: {self.message}"


def plan_marker(storage: Storage, move: MarkerMove, revision: Revision, repo: Path | None) -> MarkerResult:
    """Read the marker and say what a publish would do to it, with its precondition; writes nothing."""
    found = storage.read(move.marker)
    if found is None:
        return MarkerResult(move.marker, str(revision), None, 0, MarkerOutcome.PLANNED,
                            f"absent -> {revision} ({move.reason}), if_generation_match=0")
    current = _parse_marker(move.marker, found[0])
    order = compare(move.marker, current, revision, repo)
    generation = found[1].generation
    if order == 0:
        return MarkerResult(move.marker, str(revision), str(current), generation, MarkerOutcome.UNCHANGED,
                            f"already names {revision}")
    if order < 0:
        return MarkerResult(move.marker, str(revision), str(current), generation, MarkerOutcome.NEWER,
                            f"stays at {current}: it is newer than {revision}")
    return MarkerResult(move.marker, str(revision), str(current), generation, MarkerOutcome.PLANNED,
                        f"{current} -> {revision} ({move.reason}), if_generation_match={generation}")


def move_marker(storage: Storage, move: MarkerMove, revision: Revision, repo: Path | None = None,
                plan: MarkerResult | None = None) -> MarkerResult:
    """Move one marker forward to `revision` by compare-and-swap, re-reading after every conflict.

    The caller has checked that the revision is complete in the bucket. An
    earlier `plan` may be reused for the first attempt: if the marker changed
    since, the compare-and-swap fails and the marker is read again. The write
    is read back; a newer revision written concurrently by someone else wins,
    which is success for this publisher too.
    """
    data = _marker_text(revision)
    for attempt in range(CAS_ATTEMPTS):
        if plan is None or attempt > 0:
            plan = plan_marker(storage, move, revision, repo)
        if plan.outcome is not MarkerOutcome.PLANNED:
            return plan
        try:
            storage.write_bytes(move.marker, data, content_type=MARKER_CONTENT_TYPE,
                                cache_control=MARKER_CACHE_CONTROL, if_generation_match=plan.precondition)
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
            continue
        back = storage.read(move.marker)
        if back is not None and back[0] == data:
            previous = plan.previous or "absent"
            return MarkerResult(move.marker, str(revision), plan.previous, plan.precondition, MarkerOutcome.MOVED,
                                f"{previous} -> {revision} (read back, generation {back[1].generation})")
        # Overwritten right after our write: evaluate again against what is there now.
    raise CrioError(f"marker {move.marker} kept changing: gave up after {CAS_ATTEMPTS} compare-and-swap attempts",
                    ExitCode.MARKER)


# Reporting -------------------------------------------------------------------------

MARKER_PREFIX = "latest-"
MARKER_SUFFIX = ".txt"


@dataclass
class MarkerState:
    """One marker in the bucket: what it names and whether that set is complete."""

    marker: str
    revision: str | None
    complete: bool
    problems: list[str] = field(default_factory=list)
    generation: int = 0

    def to_dict(self) -> dict:
        return {"marker": self.marker, "revision": self.revision, "complete": self.complete,
                "problems": self.problems, "generation": self.generation}


def read_markers(bucket_url: str, archs: list[str] | None = None) -> list[MarkerState]:
    """Every `latest-*.txt` at the bucket root with its revision and completeness."""
    storage = open_bucket(bucket_url)
    storage.check()
    return marker_states(storage, archs)


def marker_states(storage: Storage, archs: list[str] | None = None) -> list[MarkerState]:
    states = []
    for info in storage.list(MARKER_PREFIX, recursive=False):
        if not info.path.endswith(MARKER_SUFFIX):
            continue
        found = storage.read(info.path)
        if found is None:
            continue  # deleted while listing
        try:
            revision = _parse_marker(info.path, found[0])
        except CrioError as exc:
            states.append(MarkerState(info.path, None, False, [exc.message], found[1].generation))
            continue
        problems = revision_problems(storage, revision, archs)
        states.append(MarkerState(info.path, str(revision), not problems, problems, found[1].generation))
    return states
