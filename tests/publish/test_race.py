"""Six publishers in six processes publish v1.22.1..v1.22.6 to ONE bucket at the same moment.

Afterwards latest-1.22.txt must name v1.22.6 (never an older tag, whatever the
interleaving), each tag has upstream's latest-bundle-vX.Y.Z.txt, and every marker
names a complete set. Run against both
backends whose compare-and-swap is real: fake-gcs-server and file://.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from crio_release.publish.markers import read_markers
from crio_release.publish.verify import verify_revision
from helpers.publish import make_revision_set, race_publisher

from crio.revision import parse_revision

PUBLISHERS = 6


def test_concurrent_publishers_leave_the_newest_complete_set(cas_bucket: str, tmp_path: Path) -> None:
    revisions = [f"v1.22.{i}" for i in range(1, PUBLISHERS + 1)]
    sets = {rev: str(make_revision_set(tmp_path / rev, rev)) for rev in revisions}
    # forkserver: children fork from a clean, thread-free server that imported the client once
    # (no fork of this process, which runs emulator threads; no 6x import cost of spawn).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["helpers.publish", "crio_release.publish.publish", "google.cloud.storage"])
    barrier = context.Manager().Barrier(PUBLISHERS)
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    with context.Pool(PUBLISHERS) as pool:
        # Publish in reverse order of start-up so the newest tag is not simply the last writer.
        pending = [pool.apply_async(race_publisher, (cas_bucket, rev, sets[rev], emulator, barrier))
                   for rev in reversed(revisions)]
        lines = [job.get(timeout=60) for job in pending]
    assert all(line.startswith("marker latest-1.22.txt:") for line in lines), lines
    print("\n".join(lines))
    states = {state.marker: state for state in read_markers(cas_bucket)}
    newest = states.pop("latest-1.22.txt")
    assert (newest.revision, newest.complete) == ("v1.22.6", True), newest
    # upstream's per-tag markers: one for each tag, each naming its own complete set
    assert {(s.marker, s.revision, s.complete) for s in states.values()} == {
        (f"latest-bundle-{rev}.txt", rev, True) for rev in revisions}
    for rev in revisions:
        assert verify_revision(cas_bucket, parse_revision(rev)) == []
