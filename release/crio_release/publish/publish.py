"""Publish one revision's full set to a bucket: immutable artifacts first, markers only after read-back.

Order of work, each step a gate for the next:
1. the local set is complete and consistent with its manifest (else nothing is touched);
2. every object already in the bucket is compared by hash (its stored sha256 against the one
   the local manifest pins, else against the hashed local file): the same bytes are skipped
   (an idempotent re-run uploads 0 bytes and re-reads no tarball), different bytes stop
   everything before any upload; files to upload are hashed and checked against the manifest;
3. the rest is uploaded create-only (`if_generation_match=0`) in parallel, the revision
   manifest last; a 412 is compared again, since the client's own retry can cause it;
4. every object is read back (size and hashes), the whole set is checked in the bucket,
   and only then do markers move, by compare-and-swap and only forward.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from crio.arch import DEFAULT_BUILD_ARCHITECTURES, normalize_arch
from crio.artifacts import (
    IMMUTABLE_CACHE_CONTROL,
    REQUIRED_ROLES,
    arch_files,
    manifest_name,
    manifest_signature_name,
    marker_signature_name,
    markers_for,
    object_path,
)
from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio_release.publish.marker_signing import check_marker_signing, sign_moved_marker
from crio_release.publish.markers import (
    MarkerResult,
    move_marker,
    parse_manifest,
    plan_marker,
    revision_problems,
)
from crio_release.publish.storage import (
    RESUMABLE_THRESHOLD,
    Digests,
    ObjectInfo,
    PreconditionFailed,
    Storage,
    open_bucket,
)

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


@dataclass(eq=False)
class LocalFile:
    """One file of the set to publish; hashed only when its bytes are about to matter.

    `expected_sha256` is what the local manifest says about the file (None for
    files it does not list, such as the manifest itself).
    """

    name: str
    path: Path
    size: int
    expected_sha256: str | None = None
    _digests: Digests | None = None

    @property
    def object_path(self) -> str:
        return object_path(self.name)

    @property
    def digests(self) -> Digests:
        if self._digests is None:
            self._digests = Digests.of_file(self.path)
        return self._digests


def hash_files(files: list[LocalFile]) -> None:
    """Hash files in parallel (hashlib releases the GIL) and check them against the local manifest."""
    with ThreadPoolExecutor(max_workers=max(1, min(UPLOAD_WORKERS, len(files)))) as pool:
        list(pool.map(lambda f: f.digests, files))
    for local in files:
        if local.expected_sha256 is not None and local.digests.sha256 != local.expected_sha256:
            raise CrioError(f"{local.path} has sha256 {local.digests.sha256} but the manifest says "
                            f"{local.expected_sha256}: rebuild the set", ExitCode.INCOMPLETE_SET)


@dataclass
class ObjectReport:
    """One artifact: uploaded (`upload`), already there with the same bytes (`skip`), or planned."""

    path: str
    size: int
    action: str
    sha256: str

    def line(self, dry_run: bool) -> str:
        if self.action == "skip":
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
    marker_signatures: list[str] = field(default_factory=list)

    @property
    def uploaded(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.action == "upload"]

    @property
    def skipped(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.action == "skip"]

    @property
    def bytes_uploaded(self) -> int:
        return 0 if self.dry_run else sum(o.size for o in self.uploaded)

    def lines(self) -> list[str]:
        out = [o.line(self.dry_run) for o in self.objects]
        out += [("would: " if self.dry_run else "") + m.line() for m in self.markers]
        out += self.marker_signatures
        if not self.markers:
            out.append(f"no marker names {self.revision}: it is neither a stable tag nor a commit on "
                       "main or a release branch")
        if self.dry_run:
            out.append(f"dry run: nothing written to {self.bucket}")
        else:
            out.append(f"published {self.revision} to {self.bucket}: {len(self.uploaded)} uploaded "
                       f"({self.bytes_uploaded} bytes), {len(self.skipped)} already there")
        return out


# 1. The local set --------------------------------------------------------------------


def collect_local_set(directory: Path, revision: Revision, archs: list[str]) -> list[LocalFile]:
    """Every file of the revision in `directory`, checked complete and against the local manifest.

    The manifest comes last in the returned list, its signature after it.
    """
    if not directory.is_dir():
        raise CrioError(f"{directory} is not a directory: give the bundle builder's output directory",
                        ExitCode.INCOMPLETE_SET)
    wanted = {arch: arch_files(arch, revision) for arch in archs}
    manifest_path = directory / manifest_name(revision)
    if not manifest_path.is_file() and not any((directory / n).is_file() for f in wanted.values()
                                                  for n in f.values()):
        raise CrioError(f"no files of revision {revision} in {directory}: expected "
                        f"{wanted[archs[0]]['tarball']} and its side files", ExitCode.INCOMPLETE_SET)
    missing = [name for files in wanted.values() for role, name in files.items()
               if role in REQUIRED_ROLES and not (directory / name).is_file()]
    if not manifest_path.is_file():
        missing.append(manifest_name(revision))
    if missing:
        lacking = sorted({arch for arch, files in wanted.items() if any(n in missing for n in files.values())})
        raise CrioError(
            f"{directory} lacks part of revision {revision} ({', '.join(lacking) or 'manifest'}): missing "
            f"{', '.join(missing)}; a publish needs tarball, .sha256sum and .spdx of each of "
            f"{', '.join(archs)} plus the manifest", ExitCode.INCOMPLETE_SET)
    try:
        manifest = parse_manifest(manifest_path.read_bytes(), revision)
    except CrioError as exc:
        raise CrioError(f"{manifest_path}: {exc.message}", ExitCode.INCOMPLETE_SET) from None
    if manifest.revision != str(revision):
        raise CrioError(f"{manifest_path} describes revision {manifest.revision}, not {revision}",
                        ExitCode.INCOMPLETE_SET)
    not_listed = [arch for arch in archs if arch not in manifest.architectures]
    if not_listed:
        raise CrioError(f"{manifest_path} lists architectures {', '.join(manifest.architectures)}, "
                        f"not {', '.join(not_listed)}", ExitCode.INCOMPLETE_SET)
    names = [name for files in wanted.values() for name in files.values() if (directory / name).is_file()]
    names += [entry.name for entry in manifest.files if entry.name not in names]
    by_name = manifest.by_name()
    files = []
    for name in names:
        path = directory / name
        if not path.is_file():
            raise CrioError(f"{name} is listed in {manifest_path.name} but missing from {directory}",
                            ExitCode.INCOMPLETE_SET)
        entry = by_name.get(name)
        size = path.stat().st_size
        if entry is not None and entry.size != size:
            raise CrioError(f"{path} has {size} bytes but {manifest_path.name} says {entry.size}: rebuild the set",
                            ExitCode.INCOMPLETE_SET)
        files.append(LocalFile(name, path, size, entry.sha256 if entry else None))
    for path in (manifest_path, directory / manifest_signature_name(revision)):
        if path.is_file():
            files.append(LocalFile(path.name, path, path.stat().st_size))
    return files


# 2-3. Artifacts ----------------------------------------------------------------------


def _conflict(local: LocalFile, stored: ObjectInfo) -> CrioError:
    return CrioError(
        f"{stored.path} is already published with {stored.describe_hash()} but the local file has sha256 "
        f"{local.digests.sha256}: published artifacts are immutable; publish under a new revision",
        ExitCode.IMMUTABLE_CONFLICT)


def _compare_existing(local: LocalFile, stored: ObjectInfo | None) -> str:
    """`upload` if absent, `skip` if the same bytes are there; raise for different bytes.

    The manifest is the set's identity: when the published copy has the size
    and sha256 the local manifest records, the local file is not re-hashed
    (an unchanged re-publish reads no tarball); the manifest itself, whose
    bytes pin every other hash, is always hashed and compared.
    """
    if stored is None:
        return "upload"
    if local.expected_sha256 and stored.sha256 and stored.size == local.size \
            and stored.sha256 == local.expected_sha256:
        return "skip"
    if stored.matches(local.digests):
        return "skip"
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


def _upload_one(storage: Storage, local: LocalFile) -> str:
    """Create-only upload; on 412 the object is compared, since our own retried write may be the one there."""
    try:
        storage.upload_file(local.object_path, local.path, digests=local.digests,
                            content_type=content_type_for(local.name), cache_control=IMMUTABLE_CACHE_CONTROL,
                            if_generation_match=0)
    except PreconditionFailed:
        return "skip" if _compare_existing(local, storage.stat(local.object_path)) == "skip" else "upload"
    return "upload"


def _upload_all(storage: Storage, files: list[LocalFile], progress: bool) -> dict[str, str]:
    """Upload in parallel with a byte progress bar; raise one error listing every failed object."""
    from tqdm import tqdm

    results: dict[str, str] = {}
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


def _object_report(local: LocalFile, action: str) -> ObjectReport:
    sha256 = local.expected_sha256 if local._digests is None else local.digests.sha256
    return ObjectReport(local.object_path, local.size, action, sha256 or "")


def publish_revision(bucket_url: str, revision: Revision, directory: Path, *, branch: str | None = None,
                     repo: Path | None = None, archs: list[str] | None = None, dry_run: bool = False,
                     progress: bool = False, signing_key: bytes | None = None) -> PublishReport:
    """Publish the full set of `revision` from `directory` and move its markers forward.

    With `signing_key` (required when the set is signed) every marker moved, or already naming
    `revision`, gets its signed statement (marker_signing) right after it moves.
    Raises CrioError with the class's exit code; on any error no marker has moved.
    """
    storage = open_bucket(bucket_url)
    archs = list(dict.fromkeys(normalize_arch(a) for a in (archs or DEFAULT_BUILD_ARCHITECTURES)))
    files = collect_local_set(Path(directory), revision, archs)
    storage.check()
    report = PublishReport(str(revision), storage.url, dry_run)

    # Existence and hash BEFORE uploading: re-runs cost no bytes and a conflict stops everything.
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        existing = dict(zip((f.object_path for f in files), pool.map(storage.stat, [f.object_path for f in files]),
                            strict=True))
    # What has no published copy (and what the manifest does not pin) is hashed now, checked
    # against the manifest, before anything is decided or written.
    hash_files([f for f in files if existing[f.object_path] is None or f.expected_sha256 is None])
    actions = {local.name: _compare_existing(local, existing[local.object_path]) for local in files}
    moves = markers_for(revision, branch)
    plans = [plan_marker(storage, move, revision, repo) for move in moves]  # refuses to guess before any write
    manifest_sig = Path(directory) / manifest_signature_name(revision)
    check_marker_signing(storage, [m.marker for m in moves], signing_key,
                         (Path(directory) / manifest_name(revision), manifest_sig.read_bytes())
                         if manifest_sig.is_file() else None)
    if dry_run:
        report.objects = [_object_report(f, actions[f.name]) for f in files]
        report.markers = plans
        if signing_key is not None:
            report.marker_signatures = [f"would sign {marker_signature_name(p.marker)}" for p in plans
                                        if p.outcome in ("planned", "unchanged")]
        return report

    manifest_names = {manifest_name(revision), manifest_signature_name(revision)}
    pending = [f for f in files if actions[f.name] == "upload"]
    done = _upload_all(storage, [f for f in pending if f.name not in manifest_names], progress)
    done.update(_upload_all(storage, [f for f in pending if f.name in manifest_names], progress))
    actions.update(done)
    report.objects = [_object_report(f, actions[f.name]) for f in files]

    # Read back what was written now; what was skipped was compared by a stat moments ago.
    seen = dict(existing)
    written = [f for f in files if f.name in done]
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        seen.update(zip((f.object_path for f in written), pool.map(storage.stat, [f.object_path for f in written]),
                        strict=True))
    problems = [p for f in written if (p := _read_back_problem(f, seen[f.object_path]))]
    if problems:
        raise CrioError("read-back failed, no marker moved: " + "; ".join(problems), ExitCode.VERIFY_FAILED)
    if moves:
        # The bucket, not the local directory, decides whether the set is complete: every fact
        # used here comes from a stat of the bucket, and the manifest's stored hash was checked.
        manifest_file = next(f for f in files if f.name == manifest_name(revision))
        incomplete = revision_problems(storage, revision, sorted(set(archs) | set(DEFAULT_BUILD_ARCHITECTURES)),
                                       seen=seen, manifest_bytes=manifest_file.path.read_bytes())
        if incomplete:
            raise CrioError(f"{revision} is not complete in {storage.url}, no marker moved: "
                            + "; ".join(incomplete), ExitCode.INCOMPLETE_SET)
        report.markers = [move_marker(storage, move, revision, repo, plan) for move, plan in zip(moves, plans,
                                                                                               strict=True)]
        if signing_key is not None:
            report.marker_signatures = [sign_moved_marker(storage, m.marker, revision, signing_key)
                                        for m in report.markers if m.outcome in ("moved", "unchanged")]
    return report
