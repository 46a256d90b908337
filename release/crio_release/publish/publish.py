"""Publish one revision's full set to a bucket: immutable artifacts first, markers only after read-back.

Order of work, each step a gate for the next:
1. the local set is complete and consistent with its manifest (else nothing is touched);
2. every object already in the bucket is compared by hash (its stored sha256 against the one
   the local manifest pins, else against the hashed local file): the same bytes are skipped
   (an idempotent re-run uploads 0 bytes and re-reads no tarball), different bytes stop
   everything before any upload; files to upload are hashed and checked against the manifest;
3. the rest is uploaded create-only (`if_generation_match=0`) in parallel; a 412 is compared
   again, since the client's own retry can cause it;
4. every object is read back (size and hashes), then the revision manifest is merged into the
   bucket's by compare-and-swap (manifest_merge.py: one runner per architecture may publish,
   in any order or at once);
5. only when the set is complete in the bucket for the configured architectures is the
   manifest signed (again, if merged: manifest_resign.py) and do markers move, by
   compare-and-swap and only forward; an incomplete per-runner set leaves them to the
   publish that completes it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from crio.arch import ARCHITECTURES, DEFAULT_BUILD_ARCHITECTURES, normalize_arch
from crio.artifacts import (
    IMMUTABLE_CACHE_CONTROL,
    manifest_bundle_name,
    manifest_name,
    manifest_signature_name,
    marker_signature_name,
    publish_markers_for,
)
from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio_release.publish.completeness import parse_manifest, revision_problems
from crio_release.publish.local_set import LocalFile, collect_local_set, hash_files
from crio_release.publish.manifest_merge import (
    ManifestMerge,
    MergeOutcome,
    merge_manifest,
    plan_manifest_merge,
)
from crio_release.publish.manifest_resign import ManifestSigners, check_partial_set, sign_merged_manifest
from crio_release.publish.marker_signing import check_marker_signing, sign_moved_marker
from crio_release.publish.markers import MarkerResult, move_marker, plan_marker
from crio_release.publish.storage import Digests, ObjectInfo, PreconditionFailed, Storage, open_bucket
from crio_release.publish.storage_gcs import RESUMABLE_THRESHOLD

#: Parallel uploads; GCS throughput per object is limited, so a few streams fill the link.
UPLOAD_WORKERS = 4
#: Large (resumable) uploads running at once: each holds one UPLOAD_CHUNK in memory, so this
#: bounds peak memory however many architectures or bytes a revision has.
LARGE_UPLOADS = 2

_CONTENT_TYPES = (
    (".tar.gz", "application/gzip"),
    (".json", "application/json"),
    (".bundle", "application/json"),
    (".sha256sum", "text/plain"),
    (".spdx", "text/plain"),
    (".sig", "text/plain"),
    (".cert", "text/plain"),
    (".txt", "text/plain"),
)


def content_type_for(name: str) -> str:
    """The Content-Type a published file is served with, by its suffix."""
    for suffix, content_type in _CONTENT_TYPES:
        if name.endswith(suffix):
            return content_type
    return "application/octet-stream"


class ObjectAction(StrEnum):
    """What a publish does with one artifact: upload it, or skip it because the same bytes are there."""

    UPLOAD = "upload"
    SKIP = "skip"


@dataclass
class ObjectReport:
    """One artifact: uploaded (or, in a dry run, planned), or already there with the same bytes."""

    path: str
    size: int
    action: ObjectAction
    sha256: str
    text: str | None = None  # the revision manifest says what its merge does

    def line(self, dry_run: bool) -> str:
        if self.text is not None:
            return self.text
        if self.action is ObjectAction.SKIP:
            return f"skip   {self.path} ({self.size} bytes): exists, same sha256 -> skip"
        verb = "would upload" if dry_run else "upload"
        return f"{verb} {self.path} ({self.size} bytes, {content_type_for(self.path)}), if_generation_match=0"


@dataclass
class PublishReport:
    """What a publish did or, with dry_run, would do."""

    revision: str
    bucket: str
    dry_run: bool
    objects: list[ObjectReport] = field(default_factory=list)
    markers: list[MarkerResult] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # the configured set of architectures
    waiting: list[str] = field(default_factory=list)   # why the set is not complete yet (markers wait)
    signed: list[str] = field(default_factory=list)    # what was done to sign a merged manifest
    marker_signatures: list[str] = field(default_factory=list)

    @property
    def uploaded(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.action is ObjectAction.UPLOAD]

    @property
    def skipped(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.action is ObjectAction.SKIP]

    @property
    def bytes_uploaded(self) -> int:
        return 0 if self.dry_run else sum(o.size for o in self.uploaded)

    def lines(self) -> list[str]:
        out = [o.line(self.dry_run) for o in self.objects] + self.signed
        out += [("would: " if self.dry_run else "") + m.line() for m in self.markers]
        out += self.marker_signatures
        if self.waiting:
            out.append(f"markers wait: {self.revision} is not complete for {', '.join(self.expected)} yet "
                       f"({'; '.join(self.waiting[:3])}); the publish that completes the set moves them")
        elif not self.markers:
            out.append(f"no marker names {self.revision}: it is neither a stable tag nor a commit on "
                       "main or a release branch")
        if self.dry_run:
            out.append(f"dry run: nothing written to {self.bucket}")
        else:
            out.append(f"published {self.revision} to {self.bucket}: {len(self.uploaded)} uploaded "
                       f"({self.bytes_uploaded} bytes), {len(self.skipped)} already there")
        return out


# 2-3. Artifacts ----------------------------------------------------------------------


def _conflict(local: LocalFile, stored: ObjectInfo) -> CrioError:
    return CrioError(
        f"{stored.path} is already published with {stored.describe_hash()} but the local file has sha256 "
        f"{local.digests.sha256}: published artifacts are immutable; publish under a new revision",
        ExitCode.IMMUTABLE_CONFLICT)


def _compare_existing(local: LocalFile, stored: ObjectInfo | None) -> ObjectAction:
    """UPLOAD if absent, SKIP if the same bytes are there; raise for different bytes.

    The manifest is the set's identity: when the published copy has the size
    and sha256 the local manifest records, the local file is not re-hashed
    (an unchanged re-publish reads no tarball); the manifest itself, whose
    bytes pin every other hash, is always hashed and compared.
    """
    if stored is None:
        return ObjectAction.UPLOAD
    if local.expected_sha256 and stored.sha256 and stored.size == local.size \
            and stored.sha256 == local.expected_sha256:
        return ObjectAction.SKIP
    if stored.matches(local.digests):
        return ObjectAction.SKIP
    raise _conflict(local, stored)


def _read_back_problem(local: LocalFile, stored: ObjectInfo | None) -> str | None:
    """Why the stored object is not the local file, judged by every hash the store reports."""
    if stored is None:
        return f"{local.object_path} is missing after upload"
    if stored.size != local.size:
        return f"{local.object_path} has {stored.size} bytes after upload, expected {local.size}"
    for label, theirs, mine in (("sha256", stored.sha256, local.digests.sha256),
                                ("crc32c", stored.crc32c, local.digests.crc32c)):
        if theirs and theirs != mine:
            return f"{local.object_path} has {label} {theirs} after upload, expected {mine}"
    if not (stored.sha256 or stored.crc32c):
        return f"{local.object_path} reports no hash to check after upload"
    return None


def _upload_one(storage: Storage, local: LocalFile) -> ObjectAction:
    """Create-only upload; on 412 the object is compared, since our own retried write may be the one there."""
    try:
        storage.upload_file(local.object_path, local.path, digests=local.digests,
                            content_type=content_type_for(local.name), cache_control=IMMUTABLE_CACHE_CONTROL,
                            if_generation_match=0)
    except PreconditionFailed:
        # raises for other bytes; the same bytes mean an earlier attempt of ours landed
        return _compare_existing(local, storage.stat(local.object_path))
    return ObjectAction.UPLOAD


def _upload_all(storage: Storage, files: list[LocalFile], progress: bool) -> dict[str, ObjectAction]:
    """Upload in parallel with a byte progress bar; raise one error listing every failed object."""
    from tqdm import tqdm

    results: dict[str, ObjectAction] = {}
    errors: list[CrioError] = []
    with tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc="upload",
              disable=not progress, file=sys.stderr) as bar:
        large = threading.BoundedSemaphore(LARGE_UPLOADS)

        def run(local: LocalFile) -> None:
            slot = large if local.size > RESUMABLE_THRESHOLD else contextlib.nullcontext()
            try:
                with slot:
                    results[local.name] = _upload_one(storage, local)
            except CrioError as exc:
                errors.append(exc)
            except OSError as exc:  # the local file vanished or became unreadable mid-publish
                errors.append(CrioError(f"cannot read {local.path}: {exc.strerror}", ExitCode.INCOMPLETE_SET))
            bar.update(local.size)

        with ThreadPoolExecutor(max_workers=max(1, min(UPLOAD_WORKERS, len(files)))) as pool:
            list(pool.map(run, files))
    if errors:
        code = next((e.exit_code for e in errors if e.exit_code == ExitCode.IMMUTABLE_CONFLICT),
                    errors[0].exit_code)
        raise CrioError(f"{len(errors)} upload(s) failed, no marker moved: "
                        + "; ".join(e.message for e in errors), code)
    return results


# The whole publish -------------------------------------------------------------------


def _object_report(local: LocalFile, action: ObjectAction) -> ObjectReport:
    sha256 = local.expected_sha256 if local._digests is None else local.digests.sha256
    return ObjectReport(local.object_path, local.size, action, sha256 or "")


def expected_architectures(archs: list[str], expect: list[str] | None = None) -> list[str]:
    """The configured set: `expect` (default: the CI architectures) plus whatever this publish carries."""
    wanted = [normalize_arch(a) for a in (expect or DEFAULT_BUILD_ARCHITECTURES)] + archs
    return [a for a in ARCHITECTURES if a in wanted]


def publish_revision(bucket_url: str, revision: Revision, directory: Path, *, branch: str | None = None,
                     repo: Path | None = None, archs: list[str] | None = None, dry_run: bool = False,
                     progress: bool = False, expect_archs: list[str] | None = None,
                     signers: ManifestSigners | None = None,
                     signing_key: bytes | None = None) -> PublishReport:
    """Publish `revision`'s set (or one runner's part of it) from `directory`; move markers once complete.

    `archs` are the architectures in `directory`; `expect_archs` the configured set
    (default: the CI architectures). Whichever publish completes the set in the bucket
    signs a merged manifest again with `signers` and moves the markers. With `signing_key`
    (required when the set is signed) every marker moved, or already naming `revision`, gets its
    signed statement (marker_signing) right after it moves.
    Raises CrioError with the class's exit code; on any error no marker has moved.
    """
    storage = open_bucket(bucket_url)
    archs = list(dict.fromkeys(normalize_arch(a) for a in (archs or DEFAULT_BUILD_ARCHITECTURES)))
    expected = expected_architectures(archs, expect_archs)
    signers = signers or ManifestSigners()
    signing_key = signing_key if signing_key is not None else signers.key  # one key signs manifest and markers
    files = collect_local_set(Path(directory), revision, archs)
    manifest_file = next(f for f in files if f.name == manifest_name(revision))
    local_bytes = manifest_file.path.read_bytes()
    local_archs = parse_manifest(local_bytes, revision).architectures
    signatures = [f for f in files if f.name in (manifest_signature_name(revision), manifest_bundle_name(revision))]
    files = [f for f in files if f is not manifest_file and f not in signatures]
    suffixes = [f.name.removeprefix(manifest_file.name) for f in signatures]
    check_partial_set(Path(directory), revision, local_archs, expected, suffixes, signers)
    storage.check()
    report = PublishReport(str(revision), storage.url, dry_run, expected=expected)

    # Existence and hash BEFORE uploading: re-runs cost no bytes and a conflict stops everything.
    paths = [f.object_path for f in (*files, manifest_file)]
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        existing = dict(zip(paths, pool.map(storage.stat, paths), strict=True))
    manifest_stat = existing.pop(manifest_file.object_path)
    # What has no published copy (and what the manifest does not pin) is hashed now, checked
    # against the manifest, before anything is decided or written.
    hash_files([f for f in files if existing[f.object_path] is None or f.expected_sha256 is None])
    actions = {local.name: _compare_existing(local, existing[local.object_path]) for local in files}
    merge = plan_manifest_merge(storage, revision, local_bytes, manifest_stat)  # disagreements stop it all here
    moves = publish_markers_for(revision, branch)
    with ThreadPoolExecutor(max_workers=max(1, len(moves))) as pool:  # refuses to guess before any write
        plans = list(pool.map(lambda move: plan_marker(storage, move, revision, repo), moves))
    # Every marker is signed, upstream's latest-bundle-* too: the installers read those first.
    signed_markers = [m.marker for m in moves]
    full_set = set(expected) <= set(local_archs)
    if full_set:  # a runner's part is checked when it completes the set (its manifest is merged, not its own)
        manifest_sig = Path(directory) / manifest_signature_name(revision)
        check_marker_signing(storage, signed_markers, signing_key,
                             (manifest_file.path, manifest_sig.read_bytes()) if manifest_sig.is_file() else None)
    if dry_run:
        report.objects = [_object_report(f, actions[f.name]) for f in files] + [_manifest_report(merge, local_bytes, True)]
        report.waiting = [f"{arch} is not in the manifest" for arch in expected if arch not in merge.architectures]
        report.markers = [] if report.waiting else plans
        if signing_key is not None and not report.waiting:
            report.marker_signatures = [f"would sign {marker_signature_name(p.marker)}" for p in plans
                                        if p.outcome in ("planned", "unchanged") and p.marker in signed_markers]
        return report

    done = _upload_all(storage, [f for f in files if actions[f.name] is ObjectAction.UPLOAD], progress)
    actions.update(done)
    report.objects = [_object_report(f, actions[f.name]) for f in files]

    seen = _read_back(storage, [f for f in files if f.name in done], existing)
    merge = merge_manifest(storage, revision, local_bytes, merge)
    report.objects.append(_manifest_report(merge, local_bytes, False))
    # The bucket, not the local directory, decides whether the set is complete: every fact used
    # here comes from a stat of the bucket and the manifest bytes this publish wrote or found.
    incomplete = revision_problems(storage, revision, expected, seen=seen, manifest_bytes=merge.data)
    if incomplete and set(expected) <= set(local_archs):
        raise CrioError(f"{revision} is not complete in {storage.url}, no marker moved: "
                        + "; ".join(incomplete), ExitCode.INCOMPLETE_SET)
    if incomplete:
        report.waiting = incomplete  # another runner's part is missing: its publish moves the markers
        return report
    if merge.data == local_bytes:  # the bucket holds the very manifest this set signed
        signed = _upload_all(storage, signatures, progress)
        report.objects += [_object_report(f, signed[f.name]) for f in signatures]
    elif signatures:
        report.signed = sign_merged_manifest(storage, revision, merge.data, suffixes, signers)
    if not full_set:
        check_marker_signing(storage, signed_markers, signing_key, None)
    report.markers = [move_marker(storage, move, revision, repo, plan) for move, plan in zip(moves, plans,
                                                                                           strict=True)]
    if signing_key is not None:
        report.marker_signatures = [sign_moved_marker(storage, m.marker, revision, signing_key)
                                    for m in report.markers
                                    if m.outcome in ("moved", "unchanged") and m.marker in signed_markers]
    return report


def _read_back(storage: Storage, written: list[LocalFile], existing: dict[str, ObjectInfo | None]
               ) -> dict[str, ObjectInfo | None]:
    """Stat what was written now (what was skipped was compared by a stat moments ago); raise on any mismatch."""
    seen = dict(existing)
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        seen.update(zip((f.object_path for f in written), pool.map(storage.stat, [f.object_path for f in written]),
                        strict=True))
    problems = [p for f in written if (p := _read_back_problem(f, seen[f.object_path]))]
    if problems:
        raise CrioError("read-back failed, no marker moved: " + "; ".join(problems), ExitCode.VERIFY_FAILED)
    return seen


def _manifest_report(merge: ManifestMerge, local_bytes: bytes, dry_run: bool) -> ObjectReport:
    """The revision manifest as one object of the report: uploaded when created or merged, else skipped."""
    action = ObjectAction.SKIP if merge.outcome is MergeOutcome.UNCHANGED else ObjectAction.UPLOAD
    same = merge.outcome is not MergeOutcome.MERGE and merge.data == local_bytes
    report = ObjectReport(merge.path, len(merge.data), action, Digests.of_bytes(merge.data).sha256)
    report.text = None if same else merge.line(dry_run)
    return report
