"""Benchmark notes from pull requests against the fake GitHub API: requests per pull request, and time.

A 120-pull-request range (100 "Merge pull request #N" commits and 20 direct
commits whose pull request only the "pull requests of a commit" endpoint
knows) is read from a fake GitHub API on 127.0.0.1 that adds --latency to
every answer, as a distant API does. Figures, in the same run:

* requests per pull request of a cold run (target <= 1.0) and of a second,
  cached run (target 0);
* wall time of the cold run (parallel, cached to disk) against the reference:
  the 120 pull requests fetched one after another with one requests.Session
  (the least a sequential client must do, parsing nothing, writing nothing).

    .venv/bin/python benchmarks/bench_notes.py [--prs 120] [--latency 0.02] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "release"), str(ROOT / "tests")]

from crio_release.gitrel.ghcache import ResponseCache  # noqa: E402
from crio_release.gitrel.github import GitHubClient  # noqa: E402
from crio_release.gitrel.prsource import PullRequestSource  # noqa: E402
from crio_release.gitrel.repo import open_repo  # noqa: E402
from helpers.fake_github import FakeGitHub  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
       "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
BODY = "#### What type of PR is this?\n\n<!--\n/kind api-change\n/kind bug\n-->\n/kind {kind}\n\n" \
       "```release-note\nChange number {n}.\n```\n"


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True,
                          env=ENV).stdout.decode().strip()


def make_history(root: Path, prs: int, direct_every: int) -> tuple[Path, list[int], list[str]]:
    """A linear main: v1.0.0, then PRS commits; every DIRECT_EVERY-th has no PR number in its subject."""
    repo = root / "repo"
    git(root, "init", "-q", "-b", "main", str(repo))
    stream = [b"commit refs/heads/main\nmark :1\ncommitter bench <b@x> 1700000000 +0000\ndata 4\nbase\n"
              b"M 100644 inline f\ndata 2\n0\n\nreset refs/tags/v1.0.0\nfrom :1\n\n"]
    merged: list[int] = []
    direct: list[int] = []  # fast-import marks of the direct commits
    for i in range(1, prs + 1):
        number = 1000 + i
        if i % direct_every == 0:
            subject = f"Direct change {i}"
            direct.append(i + 1)
        else:
            subject = f"Merge pull request #{number} from user{i}/topic-{i}"
            merged.append(number)
        msg = f"{subject}\n\nTitle {i}\n".encode()
        stream.append(b"commit refs/heads/main\nmark :%d\ncommitter bench <b@x> %d +0000\ndata %d\n%s\nfrom :%d\n"
                      b"M 100644 inline f\ndata %d\n%d\n\n" % (i + 1, 1_700_000_000 + i, len(msg), msg, i,
                                                               len(str(i)) + 1, i))
    git(repo, "fast-import", "--quiet", stdin=b"".join(stream))
    shas = git(repo, "rev-list", "--reverse", "main").splitlines()  # shas[mark - 1]: linear history
    return repo, merged, [shas[mark - 1] for mark in direct]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=120)
    parser.add_argument("--direct-every", type=int, default=6)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    kinds = ("feature", "bug", "cleanup", "documentation")
    with tempfile.TemporaryDirectory(prefix="bench-notes-") as tmp, FakeGitHub(latency=args.latency) as api:
        repo_path, merged, direct_shas = make_history(Path(tmp), args.prs, args.direct_every)
        for n in merged:
            api.add_pull(n, BODY.format(kind=kinds[n % 4], n=n), f"user{n}")
        for i, sha in enumerate(direct_shas):
            number = 5000 + i
            api.add_pull(number, BODY.format(kind="bug", n=number), "direct", merge_commit_sha=sha)
            api.commit_pulls[sha] = [number]
        repo = open_repo(repo_path)
        tip = git(repo_path, "rev-parse", "main")

        def run() -> tuple[int, int, int, float]:
            client = GitHubClient(api.url, None)
            source = PullRequestSource(client, api.repository, ResponseCache(Path(tmp) / "cache", api.url,
                                                                             api.repository), progress=False)
            start = time.perf_counter()
            result = source.collect(repo, "v1.0.0", tip)
            return result.pull_requests, len(result.notes), result.requests, time.perf_counter() - start

        prs, notes, cold_requests, cold = run()
        _, warm_notes, warm_requests, warm = run()
        if warm_notes != notes or notes != prs:
            raise SystemExit(f"benchmark broken: {prs} pull requests gave {notes} then {warm_notes} notes")
        urls = [f"{api.url}/repos/{api.repository}/pulls/{n}" for n in sorted(api.pulls)]
        session = requests.Session()
        start = time.perf_counter()
        for url in urls:
            session.get(url, timeout=30).raise_for_status()
        reference = time.perf_counter() - start
    figures = {"pull requests": prs, "notes": notes, "requests, cold run": cold_requests,
               "requests per PR, cold": round(cold_requests / prs, 3), "requests, cached run": warm_requests,
               "cold run s": round(cold, 3), "cached run s": round(warm, 3),
               "sequential GETs s (reference)": round(reference, 3), "cold / reference": round(cold / reference, 3)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:<32}{value!s:>10}")


if __name__ == "__main__":
    main()
