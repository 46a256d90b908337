"""publish_revision end to end against real backends: what is uploaded, what is refused, which markers move."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
from crio_release.publish.completeness import revision_problems
from crio_release.publish.markers import read_markers
from crio_release.publish.publish import _upload_one, collect_local_set, publish_revision
from crio_release.publish.storage import Digests, open_bucket
from crio_release.publish.verify import verify_revision
from helpers.publish import bucket_state, make_revision_set

from crio.artifacts import IMMUTABLE_CACHE_CONTROL, MARKER_CACHE_CONTROL, artifact_url, tarball_name
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision

V1, V2 = parse_revision("v1.22.1"), parse_revision("v1.22.2")


def _marker(url: str, name: str) -> str | None:
    found = open_bucket(url).read(name)
    return None if found is None else found[0].decode().strip()


def test_round_trip_on_gcp_emulator_with_public_reads(gcp_bucket: str, gcp_emulator, real_v1_set: Path) -> None:
    """The real builder's output: uploads, listing and path-style public GETs with the issue's headers."""
    directory = real_v1_set
    report = publish_revision(gcp_bucket, V1, directory)
    assert len(report.uploaded) == 7 and report.bytes_uploaded == sum(
        p.stat().st_size for p in directory.iterdir())
    assert [(m.marker, m.outcome) for m in report.markers] == [("latest-1.22.txt", "moved"),
                                                               ("latest-bundle-v1.22.1.txt", "moved")]
    assert verify_revision(gcp_bucket, V1) == []
    base = gcp_emulator.public_base(gcp_bucket.removeprefix("gs://"))
    with urllib.request.urlopen(artifact_url(base, tarball_name("amd64", V1))) as response:
        assert response.read() == (directory / tarball_name("amd64", V1)).read_bytes()
    with urllib.request.urlopen(f"{base}/latest-1.22.txt") as response:
        assert response.read() == b"v1.22.1\n"
    storage = open_bucket(gcp_bucket)
    tarball = storage.stat(f"artifacts/{tarball_name('amd64', V1)}")
    assert (tarball.content_type, tarball.cache_control) == ("application/gzip", IMMUTABLE_CACHE_CONTROL)
    types = {o.path.rsplit(".", 1)[-1]: o.content_type for o in storage.list("artifacts/")}
    assert types == {"gz": "application/gzip", "sha256sum": "text/plain", "spdx": "text/plain",
                     "json": "application/json"}
    marker = storage.stat("latest-1.22.txt")
    assert (marker.content_type, marker.cache_control) == ("text/plain", MARKER_CACHE_CONTROL)


def test_publish_verify_and_idempotent_rerun(cas_bucket: str, real_v1_set: Path) -> None:
    directory = real_v1_set
    first = publish_revision(cas_bucket, V1, directory)
    assert first.bytes_uploaded > 0 and not first.skipped
    assert verify_revision(cas_bucket, V1) == []
    before = bucket_state(cas_bucket)
    again = publish_revision(cas_bucket, V1, directory)
    assert again.bytes_uploaded == 0 and again.uploaded == [] and len(again.skipped) == 7
    assert [m.outcome for m in again.markers] == ["unchanged", "unchanged"]
    assert bucket_state(cas_bucket) == before  # not even a generation changed


def test_immutable_artifact_with_other_bytes_is_refused(cas_bucket: str, tmp_path: Path) -> None:
    publish_revision(cas_bucket, V1, make_revision_set(tmp_path / "a", V1))
    before = bucket_state(cas_bucket)
    rebuilt = make_revision_set(tmp_path / "b", V1, payload=b"rebuilt with other components")
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, V1, rebuilt)
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT
    old = Digests.of_file(tmp_path / "a" / tarball_name("amd64", V1)).sha256
    new = Digests.of_file(rebuilt / tarball_name("amd64", V1)).sha256
    assert old in err.value.message and new in err.value.message
    assert bucket_state(cas_bucket) == before


def test_create_only_412_is_compared_not_trusted(fake_gcs_bucket: str, tmp_path: Path) -> None:
    """The object appears between our check and our write (or our retried write landed): decide by hash."""
    directory = make_revision_set(tmp_path / "set", V1)
    other = make_revision_set(tmp_path / "other", V1, payload=b"different")
    storage = open_bucket(fake_gcs_bucket)
    local = {f.name: f for f in collect_local_set(directory, V1, ["amd64", "arm64"])}
    foreign = {f.name: f for f in collect_local_set(other, V1, ["amd64", "arm64"])}
    name = tarball_name("amd64", V1)
    assert _upload_one(storage, local[name]) == "upload"
    assert _upload_one(storage, local[name]) == "skip"   # 412, same sha256
    with pytest.raises(CrioError) as err:
        _upload_one(storage, foreign[name])               # 412, other sha256
    assert err.value.exit_code == ExitCode.IMMUTABLE_CONFLICT
    assert storage.stat(f"artifacts/{name}").sha256 == local[name].digests.sha256


def test_tag_marker_never_regresses(cas_bucket: str, tmp_path: Path) -> None:
    publish_revision(cas_bucket, V2, make_revision_set(tmp_path / "v2", V2))
    report = publish_revision(cas_bucket, V1, make_revision_set(tmp_path / "v1", V1))
    assert report.markers[0].outcome == "newer" and "stays at v1.22.2" in report.markers[0].line()
    assert _marker(cas_bucket, "latest-1.22.txt") == "v1.22.2"
    v3 = parse_revision("v1.22.10")  # 10 > 2 numerically, not by characters
    publish_revision(cas_bucket, v3, make_revision_set(tmp_path / "v3", v3))
    assert _marker(cas_bucket, "latest-1.22.txt") == "v1.22.10"


def test_prerelease_moves_no_marker(cas_bucket: str, tmp_path: Path) -> None:
    rc = parse_revision("v1.23.0-rc.1")
    report = publish_revision(cas_bucket, rc, make_revision_set(tmp_path / "rc", rc))
    assert report.markers == [] and len(report.uploaded) == 7
    assert read_markers(cas_bucket) == []


def _git_repo(path: Path) -> tuple[Path, list[str]]:
    env = ["-c", "user.name=T", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    shas = []
    for i in range(3):
        (path / "f").write_text(str(i))
        subprocess.run(["git", "-C", str(path), "add", "f"], check=True)
        subprocess.run(["git", "-C", str(path), *env, "commit", "-q", "-m", f"c{i}"], check=True)
        shas.append(subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                                   capture_output=True, text=True).stdout.strip())
    return path, shas


def test_commit_marker_moves_by_ancestry_only(file_bucket: str, tmp_path: Path) -> None:
    repo, (a, b, c) = _git_repo(tmp_path / "repo")
    ra, rb, rc = (parse_revision(s) for s in (a, b, c))
    publish_revision(file_bucket, rb, make_revision_set(tmp_path / "b", rb), branch="main", repo=repo)
    assert _marker(file_bucket, "latest-main.txt") == b
    older = publish_revision(file_bucket, ra, make_revision_set(tmp_path / "a", ra), branch="main", repo=repo)
    assert older.markers[0].outcome == "newer" and _marker(file_bucket, "latest-main.txt") == b
    # Without a repository an existing commit marker cannot be ordered: refuse, before writing anything.
    before = bucket_state(file_bucket)
    with pytest.raises(CrioError) as err:
        publish_revision(file_bucket, rc, make_revision_set(tmp_path / "c", rc), branch="main")
    assert err.value.exit_code == ExitCode.MARKER and "refusing to guess" in err.value.message
    assert bucket_state(file_bucket) == before
    publish_revision(file_bucket, rc, tmp_path / "c", branch="main", repo=repo)
    assert _marker(file_bucket, "latest-main.txt") == c
    # A release branch has its own marker; an absent marker needs no ordering.
    publish_revision(file_bucket, ra, tmp_path / "a", branch="release-1.22")
    assert _marker(file_bucket, "latest-release-1.22.txt") == a


def test_incomplete_set_never_gets_a_marker(cas_bucket: str, tmp_path: Path) -> None:
    # One runner's part: uploaded and merged, but the configured set (amd64, arm64) is not complete.
    only_amd64 = make_revision_set(tmp_path / "amd64", V1, archs=("amd64",))
    report = publish_revision(cas_bucket, V1, only_amd64, archs=["amd64"])
    assert report.markers == [] and "arm64 is not in the manifest" in "\n".join(report.lines())
    assert _marker(cas_bucket, "latest-1.22.txt") is None and read_markers(cas_bucket) == []
    storage = open_bucket(cas_bucket)
    assert storage.stat(f"artifacts/{tarball_name('amd64', V1)}") is not None
    assert revision_problems(storage, V1) == ["architecture arm64 is not in the manifest",
                                              "the manifest lists no tarball for arm64",
                                              "the manifest lists no checksum for arm64",
                                              "the manifest lists no sbom for arm64"]
    # A set that says only amd64 is configured is complete with it.
    report = publish_revision(cas_bucket, V1, only_amd64, archs=["amd64"], expect_archs=["amd64"])
    assert [m.outcome for m in report.markers] == ["moved", "moved"]


def test_markers_report_a_set_that_lost_an_artifact(file_bucket: str, tmp_path: Path) -> None:
    publish_revision(file_bucket, V1, make_revision_set(tmp_path / "v1", V1))
    states = read_markers(file_bucket)
    assert [(s.marker, s.revision, s.complete) for s in states] == [("latest-1.22.txt", "v1.22.1", True),
                                                                    ("latest-bundle-v1.22.1.txt", "v1.22.1", True)]
    (Path(file_bucket.removeprefix("file://")) / "artifacts" / tarball_name("arm64", V1)).unlink()
    for state in read_markers(file_bucket):
        assert not state.complete and any(tarball_name("arm64", V1) in p for p in state.problems)


def test_dry_run_touches_nothing_and_prints_the_plan(cas_bucket: str, tmp_path: Path) -> None:
    publish_revision(cas_bucket, V1, make_revision_set(tmp_path / "v1", V1))
    v2 = make_revision_set(tmp_path / "v2", V2)
    generation = open_bucket(cas_bucket).stat("latest-1.22.txt").generation
    before = bucket_state(cas_bucket)
    report = publish_revision(cas_bucket, V2, v2, dry_run=True)
    assert bucket_state(cas_bucket) == before
    text = "\n".join(report.lines())
    assert f"would upload artifacts/{tarball_name('amd64', V2)}" in text and "if_generation_match=0" in text
    assert f"v1.22.1 -> v1.22.2 (newest tag of 1.22), if_generation_match={generation}" in text
    assert "dry run: nothing written" in text
    again = publish_revision(cas_bucket, V1, tmp_path / "v1", dry_run=True)
    assert all("exists, same sha256 -> skip" in o.line(True) for o in again.objects)


def test_verify_lists_every_problem(file_bucket: str, tmp_path: Path) -> None:
    from crio.signing import generate_keypair

    private, public = generate_keypair()
    _, other_public = generate_keypair()
    publish_revision(file_bucket, V1, make_revision_set(tmp_path / "v1", V1, private_key=private),
                     signing_key=private)
    assert verify_revision(file_bucket, V1, key=public) == []
    no_key = verify_revision(file_bucket, V1)
    assert len(no_key) == 5 and all("cannot verify signature: no key" in p for p in no_key)
    assert len(verify_revision(file_bucket, V1, key=other_public)) == 5
    root = Path(file_bucket.removeprefix("file://")) / "artifacts"
    (root / tarball_name("amd64", V1)).write_bytes(b"swapped")          # behind the store's back
    (root / f"{tarball_name('arm64', V1)}.spdx").write_text("not spdx\n")
    problems = verify_revision(file_bucket, V1, key=public)
    joined = "\n".join(problems)
    assert f"{tarball_name('amd64', V1)}.sha256sum says" in joined
    assert "the manifest says" in joined and "does not verify" in joined
    assert f"{tarball_name('arm64', V1)}.spdx is not a valid SPDX document" in joined
    assert "cri-o.v1.22.2" not in joined
    assert verify_revision(file_bucket, V2)[0].endswith("cri-o.v1.22.2.manifest.json is missing")


def test_local_file_not_matching_its_manifest_is_never_uploaded(cas_bucket: str, tmp_path: Path) -> None:
    directory = make_revision_set(tmp_path / "set", V1)
    tarball = directory / tarball_name("arm64", V1)
    data = bytearray(tarball.read_bytes())
    data[-1] ^= 0xFF                                   # same size, other bytes
    tarball.write_bytes(bytes(data))
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, V1, directory)
    assert err.value.exit_code == ExitCode.INCOMPLETE_SET and "but the manifest says" in err.value.message
    assert open_bucket(cas_bucket).list() == []
    tarball.write_bytes(bytes(data) + b"x")            # other size: caught without hashing
    with pytest.raises(CrioError) as err:
        publish_revision(cas_bucket, V1, directory, dry_run=True)
    assert err.value.exit_code == ExitCode.INCOMPLETE_SET and "bytes but" in err.value.message


def test_marker_compare_and_swap_rereads_after_a_conflict(cas_bucket: str) -> None:
    from crio_release.publish.markers import move_marker, plan_marker

    from crio.artifacts import MarkerMove

    storage = open_bucket(cas_bucket)
    move = MarkerMove("latest-1.22.txt", "test")
    assert move_marker(storage, move, V1).outcome == "moved"
    v3 = parse_revision("v1.22.3")
    stale = plan_marker(storage, move, v3, None)           # generation of v1.22.1
    assert move_marker(storage, move, V2).outcome == "moved"  # someone else moves it meanwhile
    result = move_marker(storage, move, v3, plan=stale)     # 412 on the stale generation, then re-read
    assert result.outcome == "moved" and result.previous == "v1.22.2"
    stale = plan_marker(storage, move, parse_revision("v1.22.4"), None)
    assert move_marker(storage, move, parse_revision("v1.22.9")).outcome == "moved"
    late = move_marker(storage, move, parse_revision("v1.22.4"), plan=stale)
    assert late.outcome == "newer" and _marker(cas_bucket, "latest-1.22.txt") == "v1.22.9"


def test_bucket_prefix_is_honoured(fake_gcs_bucket: str, tmp_path: Path) -> None:
    from google.cloud import storage as gcs

    url = f"{fake_gcs_bucket}/staging"
    publish_revision(url, V1, make_revision_set(tmp_path / "set", V1))
    names = sorted(b.name for b in gcs.Client(project="t").list_blobs(fake_gcs_bucket.removeprefix("gs://")))
    assert names and all(n.startswith("staging/") for n in names) and "staging/latest-1.22.txt" in names
    assert [(m.marker, m.complete) for m in read_markers(url)] == [("latest-1.22.txt", True),
                                                                   ("latest-bundle-v1.22.1.txt", True)]
    assert read_markers(fake_gcs_bucket) == [] and verify_revision(url, V1) == []


def test_verify_checks_the_files_the_sbom_lists_against_the_tarball(file_bucket: str, tmp_path: Path) -> None:
    from helpers.publish import spdx_document

    from crio.artifacts import sbom_name
    from crio.checksums import sha256_file
    from crio.manifest import build_revision_manifest, write_revision_manifest

    def publish_with_sbom_files(revision, files: dict[str, bytes]) -> None:
        directory = make_revision_set(tmp_path / str(revision), revision)
        tarball = directory / tarball_name("amd64", revision)
        (directory / sbom_name("amd64", revision)).write_text(
            spdx_document(tarball.name, sha256_file(tarball), str(revision), files=files))
        write_revision_manifest(directory, build_revision_manifest(directory, revision, ["amd64", "arm64"], "1"))
        publish_revision(file_bucket, revision, directory)

    # what make_revision_set stores as cri-o/bin/crio
    publish_with_sbom_files(V1, {"cri-o/bin/crio": b"crio v1.22.1 amd64\n"})
    assert verify_revision(file_bucket, V1) == []
    publish_with_sbom_files(V2, {"cri-o/bin/crio": b"other bytes", "cri-o/bin/pinns": b"absent"})
    assert verify_revision(file_bucket, V2) == [
        f"artifacts/{sbom_name('amd64', V2)} lists files the tarball does not hold: cri-o/bin/pinns",
        f"artifacts/{sbom_name('amd64', V2)} records other sha256 than the tarball for: cri-o/bin/crio"]


def test_hostile_manifest_names_are_problems_not_paths(file_bucket: str, tmp_path: Path) -> None:
    import json

    from crio.artifacts import manifest_name

    directory = make_revision_set(tmp_path / "set", V1)
    manifest = directory / manifest_name(V1)
    original = manifest.read_text()
    data = json.loads(original)
    data["files"][0]["name"] = "../../../etc/passwd"
    manifest.write_text(json.dumps(data))
    with pytest.raises(CrioError) as err:
        publish_revision(file_bucket, V1, directory)
    assert err.value.exit_code == ExitCode.INCOMPLETE_SET and "'../../../etc/passwd'" in err.value.message
    assert open_bucket(file_bucket).list() == []

    manifest.write_text(original)
    publish_revision(file_bucket, V1, directory)
    stored = Path(file_bucket.removeprefix("file://")) / "artifacts" / manifest_name(V1)
    stored.write_text(json.dumps(data))                     # swapped in the bucket behind the store's back
    problems = verify_revision(file_bucket, V1)
    assert any("'../../../etc/passwd'" in p for p in problems)
    for state in read_markers(file_bucket):
        assert not state.complete and "'../../../etc/passwd'" in state.problems[0]
