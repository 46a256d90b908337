"""Per-runner publishing: each runner merges its part of the revision manifest into the bucket's copy.

`crio-release publish --arch X` from one runner per architecture uploads X's
artifacts create-only, then merges its manifest into `cri-o.<rev>.manifest.json`
by compare-and-swap on the object's generation (0 = must not exist), re-reading
after every conflict, so runners may finish in any order or at once and none
loses another's entries. Entries are immutable: a file already listed with
other bytes, or another version, is a conflict, never an overwrite.

The merged manifest is written with a no-cache policy (it grows until the
configured set of architectures is there), and it is sealed once signed: a
manifest with a signature in the bucket takes no more entries, since the
signature would stop matching.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from dataclasses import dataclass
from enum import StrEnum

from crio.arch import ARCHITECTURES
from crio.artifacts import (
    REVISION_MANIFEST_CACHE_CONTROL,
    manifest_bundle_name,
    manifest_name,
    manifest_signature_name,
    object_path,
)
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.revision import Revision
from crio_release.publish.completeness import parse_manifest
from crio_release.publish.storage import ObjectInfo, PreconditionFailed, Storage

#: Compare-and-swap attempts before giving up; each failed attempt means another runner merged.
CAS_ATTEMPTS = 40
MANIFEST_CONTENT_TYPE = "application/json"


class MergeOutcome(StrEnum):
    """What a publish does to the bucket's revision manifest."""

    CREATE = "create"        # absent: the local manifest is written as it is
    MERGE = "merge"          # present: the union is written over it
    UNCHANGED = "unchanged"  # present and already lists every local entry


@dataclass
class ManifestMerge:
    """The bucket's revision manifest after (or, planned, as it would be after) this publish."""

    path: str
    outcome: MergeOutcome
    data: bytes
    precondition: int         # the generation the write is conditional on (the one found, 0: absent)
    added: list[str]          # architectures this publish adds
    architectures: list[str]  # every architecture the manifest lists afterwards
    written: bool = False     # this publish wrote it (a later merge by another runner may follow)

    def line(self, dry_run: bool) -> str:
        archs = ", ".join(self.architectures)
        if self.outcome is MergeOutcome.UNCHANGED:
            return f"skip   {self.path}: already lists these entries ({archs})"
        verb = {MergeOutcome.CREATE: "create", MergeOutcome.MERGE: "merge "}[self.outcome]
        return (f"{'would ' if dry_run else ''}{verb} {self.path}: adds {', '.join(self.added) or 'entries'} "
                f"-> {archs}, if_generation_match={self.precondition}")


def _canonical(archs: list[str]) -> list[str]:
    """Architectures in the order crio.arch lists them, so runners finishing in any order agree byte for byte."""
    order = {arch: index for index, arch in enumerate(ARCHITECTURES)}
    return sorted(set(archs), key=lambda arch: (order.get(arch, len(order)), arch))


def merged_manifest(current: RevisionManifest, local: RevisionManifest) -> RevisionManifest:
    """The union of two manifests of one revision; raise IMMUTABLE_CONFLICT where they disagree.

    Every field but the architecture and file lists must be equal (revision,
    version, and whatever later schemas add), and a file both list must be
    the same file (architecture, role, size, sha256).
    """
    for spec in dataclasses.fields(RevisionManifest):
        if spec.name in ("architectures", "files"):
            continue
        mine, theirs = getattr(local, spec.name), getattr(current, spec.name)
        if mine != theirs:
            raise CrioError(f"the published manifest of {current.revision} has {spec.name} {theirs!r}, this set "
                            f"has {mine!r}: runners must publish one build of one revision", ExitCode.IMMUTABLE_CONFLICT)
    files = current.by_name()
    for entry in local.files:
        listed = files.setdefault(entry.name, entry)
        if listed != entry:
            raise CrioError(f"{object_path(entry.name)} is already in the published manifest with sha256 "
                            f"{listed.sha256} ({listed.size} bytes), this set has {entry.sha256} ({entry.size} "
                            "bytes): published artifacts are immutable", ExitCode.IMMUTABLE_CONFLICT)
    archs = _canonical(current.architectures + local.architectures)
    return dataclasses.replace(current, architectures=archs, files=sorted(files.values(), key=lambda f: f.name))


def _sealed(storage: Storage, revision: Revision) -> str | None:
    """The path of a published signature of the manifest, if there is one."""
    for name in (manifest_signature_name(revision), manifest_bundle_name(revision)):
        if storage.stat(object_path(name)) is not None:
            return object_path(name)
    return None


def plan_manifest_merge(storage: Storage, revision: Revision, local_bytes: bytes,
                        stat: ObjectInfo | None = None) -> ManifestMerge:
    """Read the bucket's manifest and say what merging `local_bytes` into it does; writes nothing.

    A `stat` of the manifest taken moments ago that reports these very bytes
    (size and sha256) settles it without a download: an unchanged re-publish
    reads no more than before per-runner merging. Raises IMMUTABLE_CONFLICT for
    entries that disagree, or for new entries when the published manifest is
    already signed (sealed).
    """
    path = object_path(manifest_name(revision))
    local = parse_manifest(local_bytes, revision)
    if stat is not None and stat.size == len(local_bytes) and stat.sha256 == hashlib.sha256(local_bytes).hexdigest():
        archs = _canonical(local.architectures)
        return ManifestMerge(path, MergeOutcome.UNCHANGED, local_bytes, stat.generation, [], archs)
    found = storage.read(path)
    if found is None:
        return ManifestMerge(path, MergeOutcome.CREATE, local_bytes, 0, _canonical(local.architectures),
                             _canonical(local.architectures))
    data, info = found
    try:
        current = parse_manifest(data, revision)
    except CrioError as exc:
        raise CrioError(f"{path} in the bucket: {exc.message}; fix it by hand first", ExitCode.IMMUTABLE_CONFLICT) \
            from None
    merged = merged_manifest(current, local)
    added = [a for a in merged.architectures if a not in current.architectures]
    if merged.to_json() == current.to_json():
        return ManifestMerge(path, MergeOutcome.UNCHANGED, data, info.generation, [], merged.architectures)
    signature = _sealed(storage, revision)
    if signature is not None:
        raise CrioError(f"{path} is signed ({signature}) and so sealed: it cannot take "
                        f"{', '.join(added) or 'new entries'}; publish those under a new revision",
                        ExitCode.IMMUTABLE_CONFLICT)
    return ManifestMerge(path, MergeOutcome.MERGE, merged.to_json().encode(), info.generation, added,
                         merged.architectures)


def merge_manifest(storage: Storage, revision: Revision, local_bytes: bytes,
                   plan: ManifestMerge | None = None) -> ManifestMerge:
    """Merge `local_bytes` into the bucket's manifest by compare-and-swap; returns what is there now.

    An earlier `plan` may be reused for the first attempt: if the manifest
    changed since, the write fails its precondition and everything is read
    and merged again. The returned `data` is what this publish wrote (or found
    unchanged): whether the configured set is complete is decided on those
    bytes, so of runners racing, only the one whose write completed the set
    sees it complete. Another runner may merge on top afterwards; it keeps
    every entry written here, since its write was conditional on this one.
    """
    for attempt in range(CAS_ATTEMPTS):
        if plan is None or attempt > 0:
            plan = plan_manifest_merge(storage, revision, local_bytes)
        if plan.outcome is MergeOutcome.UNCHANGED:
            return plan
        try:
            storage.write_bytes(plan.path, plan.data, content_type=MANIFEST_CONTENT_TYPE,
                                cache_control=REVISION_MANIFEST_CACHE_CONTROL, if_generation_match=plan.precondition)
        except PreconditionFailed:
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
            continue
        return dataclasses.replace(plan, written=True)
    raise CrioError(f"{object_path(manifest_name(revision))} kept changing: gave up after {CAS_ATTEMPTS} "
                    "compare-and-swap attempts", ExitCode.STORAGE_UNREACHABLE)
