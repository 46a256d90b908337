"""Per-runner publishing: `publish --arch X` from one runner per architecture, in any order or at once.

Each runner's directory is what `crio-release bundle --arch X` writes: its
files and a revision manifest listing X alone. Runs against both backends
whose preconditions are real (fake-gcs-server, file://): the manifest is
merged by compare-and-swap there, and markers move exactly once, by the
publish that completes the configured set, never before.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from crio_release.build.merge import merge_builds
from crio_release.publish.manifest_merge import MergeOutcome, merge_manifest, plan_manifest_merge
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import publish_revision
from crio_release.publish.storage import open_bucket
from crio_release.publish.verify import verify_revision
from helpers.gcs import FaultProxy
from helpers.publish import bucket_state, make_revision_set, part_publisher

from crio.artifacts import arch_files, manifest_name, object_path, provenance_name
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.revision import parse_revision

REV = parse_revision("v1.22.1")
MARKERS = ["latest-1.22.txt", "latest-bundle-v1.22.1.txt"]


def _parts(tmp_path: Path, rev=REV, archs=("amd64", "arm64"), **kwargs) -> dict[str, Path]:
    """One `bundle --arch X` output per architecture."""
    return {arch: make_revision_set(tmp_path / f"{rev}-{arch}", rev, archs=(arch,), **kwargs) for arch in archs}


def _bucket_manifest(url: str, rev=REV) -> RevisionManifest | None:
    found = open_bucket(url).read(object_path(manifest_name(rev)))
    return None if found is None else RevisionManifest.from_json(found[0])


def _markers(url: str) -> dict[str, str | None]:
    return {state.marker: state.revision for state in read_markers(url)}


@pytest.mark.parametrize("order", [("amd64", "arm64"), ("arm64", "amd64")])
def test_sequential_parts_in_either_order_move_markers_after_the_second(cas_bucket: str, tmp_path: Path,
                                                                        order: tuple[str, str]) -> None:
    parts = _parts(tmp_path)
    first, second = order
    report = publish_revision(cas_bucket, REV, parts[first], archs=[first])
    assert report.markers == [] and report.waiting == [f"architecture {second} is not in the manifest",
                                                       *(f"the manifest lists no {r} for {second}"
                                                         for r in ("tarball", "checksum", "sbom"))]
    assert f"markers wait: v1.22.1 is not complete for amd64, arm64 yet (architecture {second}" in \
        "\n".join(report.lines())
    assert read_markers(cas_bucket) == []
    assert _bucket_manifest(cas_bucket).architectures == [first]
    storage = open_bucket(cas_bucket)
    assert all(storage.stat(object_path(name)) is not None for name in
               (arch_files(first, REV)[r] for r in ("tarball", "checksum", "sbom")))

    report = publish_revision(cas_bucket, REV, parts[second], archs=[second])
    assert report.waiting == []
    assert [(m.marker, m.outcome) for m in report.markers] == [(name, "moved") for name in MARKERS]
    assert verify_revision(cas_bucket, REV) == []
    merged = _bucket_manifest(cas_bucket)
    assert merged.architectures == ["amd64", "arm64"]  # the same bytes whichever runner came first
    # ... and the very manifest `crio-release merge` writes from the two outputs: publishing that
    # merged directory afterwards uploads nothing and changes nothing.
    local = merge_builds([parts["amd64"], parts["arm64"]], tmp_path / "merged", REV)
    assert merged.to_json() == local.read_text()
    before = bucket_state(cas_bucket)
    again = publish_revision(cas_bucket, REV, tmp_path / "merged")
    assert again.uploaded == [] and [m.outcome for m in again.markers] == ["unchanged", "unchanged"]
    assert bucket_state(cas_bucket) == before


def test_a_rerun_of_a_part_changes_nothing_and_a_rerun_of_the_completer_moves_nothing_twice(
        cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    before = bucket_state(cas_bucket)
    again = publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    assert again.uploaded == [] and again.markers == [] and bucket_state(cas_bucket) == before
    publish_revision(cas_bucket, REV, parts["arm64"], archs=["arm64"])
    after = bucket_state(cas_bucket)
    rerun = publish_revision(cas_bucket, REV, parts["arm64"], archs=["arm64"])
    assert [m.outcome for m in rerun.markers] == ["unchanged", "unchanged"] and bucket_state(cas_bucket) == after


def _race(bucket: str, tmp_path: Path, rev: str) -> list[dict]:
    parts = _parts(tmp_path, parse_revision(rev))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["helpers.publish", "crio_release.publish.publish", "google.cloud.storage"])
    barrier = context.Manager().Barrier(2)
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    with context.Pool(2) as pool:
        pending = [pool.apply_async(part_publisher, (bucket, rev, str(parts[arch]), arch, emulator, barrier))
                   for arch in ("arm64", "amd64")]
        return [job.get(timeout=120) for job in pending]


def test_two_runners_at_once_publish_everything_and_move_markers_once_after_both(cas_bucket: str,
                                                                                 tmp_path: Path) -> None:
    # Three rounds, three tags: each a fresh race between the amd64 and the arm64 runner.
    for patch in (1, 2, 3):
        rev = f"v1.22.{patch}"
        results = _race(cas_bucket, tmp_path, rev)
        print("\n".join(line for r in results for line in r["lines"]))
        movers = [r for r in results if r["markers"]]
        waiters = [r for r in results if not r["markers"]]
        # exactly one runner found the set complete: the one whose merge completed it
        assert len(movers) == 1 and len(waiters) == 1, results
        # the other merged first, and saw only the mover's architecture missing
        assert waiters[0]["waiting"] and all(movers[0]["arch"] in w for w in waiters[0]["waiting"])
        markers = ["latest-1.22.txt", f"latest-bundle-{rev}.txt"]
        assert movers[0]["markers"] == {name: "moved" for name in markers}
        storage = open_bucket(cas_bucket)
        for name in markers:  # each marker was written once: its generation is the one the mover read back
            found = storage.read(name)
            assert found is not None and found[0] == f"{rev}\n".encode()
            assert found[1].generation == movers[0]["generations"][name]
        assert _bucket_manifest(cas_bucket, parse_revision(rev)).architectures == ["amd64", "arm64"]
        assert verify_revision(cas_bucket, parse_revision(rev)) == []  # every artifact of both runners
    assert _markers(cas_bucket)["latest-1.22.txt"] == "v1.22.3"


def test_a_runner_killed_between_upload_and_merge_leaves_markers_unmoved(fake_gcs_emulator, fake_gcs_bucket: str,
                                                                         tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    tool = Path(sys.executable).parent / "crio-release"
    with FaultProxy(fake_gcs_emulator.url) as proxy:
        # The amd64 runner's write of the manifest is stopped at the proxy, and the runner killed there.
        proxy.hold(lambda method, path, body: method == "POST" and manifest_name(REV).encode() in body)
        runner = subprocess.Popen([str(tool), "publish", "--bucket", fake_gcs_bucket, "--rev", str(REV),
                                   "--arch", "amd64", str(parts["amd64"])],
                                  env={**os.environ, "STORAGE_EMULATOR_HOST": proxy.url},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proxy.held.wait(120), runner.communicate(timeout=5)
        finally:
            runner.kill()
            runner.wait()
            proxy.drop()
    storage = open_bucket(fake_gcs_bucket)
    assert storage.stat(object_path(arch_files("amd64", REV)["tarball"])) is not None  # uploaded before the kill
    assert _bucket_manifest(fake_gcs_bucket) is None and read_markers(fake_gcs_bucket) == []

    # The arm64 runner merges its part: the set still lacks amd64 in the manifest, so no marker moves.
    report = publish_revision(fake_gcs_bucket, REV, parts["arm64"], archs=["arm64"])
    assert report.markers == [] and "architecture amd64 is not in the manifest" in report.waiting
    assert _bucket_manifest(fake_gcs_bucket).architectures == ["arm64"] and read_markers(fake_gcs_bucket) == []

    # Running the killed runner again completes the set; it moves the markers.
    report = publish_revision(fake_gcs_bucket, REV, parts["amd64"], archs=["amd64"])
    assert [m.outcome for m in report.markers] == ["moved", "moved"]
    assert verify_revision(fake_gcs_bucket, REV) == []


def test_a_stale_merge_rereads_and_keeps_the_other_runners_entries(cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path, archs=("amd64", "arm64", "ppc64le"))
    storage = open_bucket(cas_bucket)
    local = {arch: (parts[arch] / manifest_name(REV)).read_bytes() for arch in parts}
    merge_manifest(storage, REV, local["amd64"])
    stale = plan_manifest_merge(storage, REV, local["arm64"])       # read: amd64 only
    merge_manifest(storage, REV, local["ppc64le"])                   # another runner merges meanwhile
    done = merge_manifest(storage, REV, local["arm64"], stale)       # 412 on the stale plan, merged again
    assert done.outcome is MergeOutcome.MERGE and done.written
    assert done.architectures == ["amd64", "arm64", "ppc64le"]
    assert _bucket_manifest(cas_bucket).architectures == ["amd64", "arm64", "ppc64le"]
    assert merge_manifest(storage, REV, local["ppc64le"]).outcome is MergeOutcome.UNCHANGED


def test_runners_of_different_builds_are_refused_before_any_upload(cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    other = make_revision_set(tmp_path / "other-arm64", REV, archs=("arm64",), version="1.22.9")
    before = bucket_state(cas_bucket)
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, other, archs=["arm64"])
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT and "version '1.22.0'" in err.value.message
    assert bucket_state(cas_bucket) == before
    # The same architecture built twice with other bytes is an immutable conflict too.
    rebuilt = make_revision_set(tmp_path / "rebuilt", REV, archs=("amd64",), payload=b"other")
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, rebuilt, archs=["amd64"])
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT and bucket_state(cas_bucket) == before


def test_configured_set_decides_completion(cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path, archs=("amd64", "arm64", "s390x"))
    expect = ["amd64", "arm64", "s390x"]
    publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"], expect_archs=expect)
    report = publish_revision(cas_bucket, REV, parts["arm64"], archs=["arm64"], expect_archs=expect)
    assert report.markers == [] and report.expected == expect and read_markers(cas_bucket) == []
    report = publish_revision(cas_bucket, REV, parts["s390x"], archs=["s390x"], expect_archs=expect)
    assert [m.outcome for m in report.markers] == ["moved", "moved"]
    assert verify_revision(cas_bucket, REV, archs=expect) == []


def test_dry_run_of_a_part_plans_the_merge_and_says_markers_wait(cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    before = bucket_state(cas_bucket)
    report = publish_revision(cas_bucket, REV, parts["arm64"], archs=["arm64"], dry_run=True)
    text = "\n".join(report.lines())
    assert bucket_state(cas_bucket) == before
    generation = open_bucket(cas_bucket).stat(object_path(manifest_name(REV))).generation
    assert (f"would merge  artifacts/{manifest_name(REV)}: adds arm64 -> amd64, arm64, "
            f"if_generation_match={generation}") in text
    assert "markers wait" not in text and "would: marker latest-1.22.txt: absent -> v1.22.1" in text
    dry = publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"], dry_run=True)
    assert dry.markers == [] and dry.waiting == ["arm64 is not in the manifest"]


def test_a_part_with_the_revisions_provenance_is_refused(cas_bucket: str, tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    (parts["amd64"] / provenance_name(REV)).write_text("{}")
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, REV, parts["amd64"], archs=["amd64"])
    assert err.value.exit_code == ExitCode.USAGE and "crio-release merge" in err.value.message
    assert open_bucket(cas_bucket).list() == []
