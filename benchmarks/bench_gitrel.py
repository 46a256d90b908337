"""Benchmark the release-manager git reads against plain git on one generated history.

Ratios measured in the same run on the same warm repository (best of --repeat):

* notes: `collect_notes` over a tag range (parse every message, one note per
  PR) vs `git log --format=%B` of the same range (just printing the text);
* previous tag: `previous_tag` (one `git tag --merged`, semver choice) vs the
  naive per-tag `git merge-base --is-ancestor` loop it replaces (reference),
  and vs the bare `git tag --merged` call;
* dry-run plan: `tag_release(dry_run=True)` of vX.Y.0 (every precondition and
  the printed plan) vs one `git rev-parse HEAD`.

The history is made by `git fast-import`: --commits squash commits carrying
release-note blocks, a version tag every --tag-every commits (1.9.x, 1.10.x,
..., 1.100.x so semver and text order differ).

    .venv/bin/python benchmarks/bench_gitrel.py [--commits 2000] [--tag-every 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "release")]

from crio_release.gitrel.branching import ReleaseContext, tag_release  # noqa: E402
from crio_release.gitrel.gitnotes import collect_notes  # noqa: E402
from crio_release.gitrel.notes import previous_tag  # noqa: E402
from crio_release.gitrel.repo import open_repo  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
       "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True,
                          env=ENV).stdout.decode().strip()


def versions(count: int) -> list[str]:
    """Tag names whose text order differs from semver: 1.9.0, 1.9.1, 1.10.0, ..., 1.100.x."""
    minors = [9, 10, 11, 99, 100]
    per = max(1, count // len(minors) + 1)
    return [f"v1.{m}.{p}" for m in minors for p in range(per)][:count]


def make_history(root: Path, commits: int, tag_every: int) -> tuple[Path, list[str]]:
    repo = root / "repo"
    git(root, "init", "-q", "-b", "main", str(repo))
    stream: list[bytes] = []
    tags = versions(commits // tag_every)
    for i in range(1, commits + 1):
        kind = ("feature", "bug", "documentation", "cleanup")[i % 4]
        msg = (f"fix: change {i} (#{i})\n\n/kind {kind}\n\n```release-note\nChange number {i}.\n```\n").encode()
        content = f"{i}\n".encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n" % i)
        stream.append(b"author bench <bench@example.invalid> %d +0000\n" % (1_700_000_000 + i))
        stream.append(b"committer bench <bench@example.invalid> %d +0000\n" % (1_700_000_000 + i))
        stream.append(b"data %d\n%s\n" % (len(msg), msg))
        if i > 1:
            stream.append(b"from :%d\n" % (i - 1))
        stream.append(b"M 100644 inline crio/VERSION\ndata %d\n%s\n" % (len(content), content))
        if i % tag_every == 0 and i // tag_every - 1 < len(tags):
            stream.append(b"reset refs/tags/%s\nfrom :%d\n\n" % (tags[i // tag_every - 1].encode(), i))
    git(repo, "fast-import", "--quiet", stdin=b"".join(stream))
    git(repo, "reset", "-q", "--hard", "main")
    return repo, tags


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_previous(repo_path: Path, tip: str, tags: list[str]) -> None:
    for tag in tags:
        subprocess.run(["git", "merge-base", "--is-ancestor", tag, tip], cwd=repo_path, env=ENV, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--tag-every", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gitrel-") as tmp:
        repo_path, tags = make_history(Path(tmp), args.commits, args.tag_every)
        repo = open_repo(repo_path)
        first, last = tags[0], tags[-1]
        rows = []

        ours = best(lambda: collect_notes(repo, first, last), args.repeat)
        ref = best(lambda: git(repo_path, "log", "--format=%B", f"{first}..{last}"), args.repeat)
        count = len(collect_notes(repo, first, last))
        rows.append(("notes over a range", f"{count} notes", ours, ref, "git log --format=%B"))

        ours = best(lambda: previous_tag(repo, last), args.repeat)
        naive = best(lambda: naive_previous(repo_path, last, tags), args.repeat)
        rows.append(("previous tag", f"{len(tags)} tags", ours, naive, "per-tag is-ancestor loop"))
        bare = best(lambda: git(repo_path, "tag", "--merged", last), args.repeat)
        rows.append(("previous tag", f"{len(tags)} tags", ours, bare, "git tag --merged"))

        git(repo_path, "branch", "release-1.200")
        git(repo_path, "commit", "-q", "--allow-empty", "-m", "x")
        (repo_path / "crio/VERSION").write_text("1.200.0\n")
        git(repo_path, "commit", "-q", "-am", "1.200.0")
        git(repo_path, "branch", "-f", "release-1.200")

        def plan() -> None:
            ctx = ReleaseContext(open_repo(repo_path), dry_run=True, echo=lambda _line: None)
            tag_release(ctx, "v1.200.0")

        ours = best(plan, args.repeat)
        ref = best(lambda: git(repo_path, "rev-parse", "HEAD"), args.repeat)
        rows.append(("dry-run tag vX.Y.0", "plan + checks", ours, ref, "git rev-parse HEAD"))

    if args.json:
        print(json.dumps([{"measure": m, "size": s, "seconds": round(o, 4), "reference_seconds": round(r, 4),
                           "ratio": round(o / r, 2), "reference": name} for m, s, o, r, name in rows], indent=2))
        return
    print(f"{'measure':<20} {'size':<12} {'ours s':>8} {'ref s':>8} {'ratio':>6}  reference")
    for m, s, o, r, name in rows:
        print(f"{m:<20} {s:<12} {o:8.4f} {r:8.4f} {o / r:6.2f}  {name}")


if __name__ == "__main__":
    main()
