"""When a revision's set is complete in a bucket: the one rule the publisher, markers and reconcile share.

Complete means: the revision manifest is there and names the revision, it
lists every required role (tarball, checksum, SBOM) of every architecture
asked for, and each file it lists is in the bucket with the size and sha256
the manifest records. A marker never moves to an incomplete set, and
reconcile rebuilds every tag whose set is not complete.
"""

from __future__ import annotations

from crio.arch import DEFAULT_BUILD_ARCHITECTURES
from crio.artifacts import REQUIRED_ROLES, arch_files, manifest_name, object_path
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.revision import Revision
from crio_release.publish.storage import ObjectInfo, Storage


def parse_manifest(data: bytes, revision: Revision) -> RevisionManifest:
    """The revision manifest of `revision`, refusing entries not named as crio.artifacts names them.

    Manifests are read from buckets and directories, so their file names are
    untrusted: a name with a slash or one that is not the artifact name of its
    architecture and role would make the publisher or verifier look elsewhere.
    """
    manifest = RevisionManifest.from_json(data)
    for entry in manifest.files:
        try:
            expected = arch_files(entry.arch, revision).get(entry.role)
        except CrioError:
            expected = None
        if expected != entry.name:
            raise CrioError(f"revision manifest lists {entry.name[:120]!r} as {entry.role} of {entry.arch[:20]}, "
                            f"expected {expected or 'a known architecture and role'}", ExitCode.VERIFICATION)
    return manifest


def revision_problems(storage: Storage, revision: Revision, archs: list[str] | tuple[str, ...] | None = None,
                      *, seen: dict[str, ObjectInfo] | None = None, manifest_bytes: bytes | None = None
                      ) -> list[str]:
    """Why `revision` is not a complete set in the bucket (empty: complete).

    Complete means: the revision manifest is there, names every required role
    of every architecture in `archs` (default: the CI architectures), and each
    file it lists is in the bucket with the manifest's size and sha256.
    A publisher that has just read every object back passes those answers as
    `seen` (and the manifest bytes whose stored hash it checked) instead of
    asking the bucket again; anything not in `seen` is asked for.
    """
    archs = list(archs or DEFAULT_BUILD_ARCHITECTURES)
    seen = seen or {}
    if manifest_bytes is None:
        found = storage.read(object_path(manifest_name(revision)))
        if found is None:
            return [f"{object_path(manifest_name(revision))} is missing"]
        manifest_bytes = found[0]
    try:
        manifest = parse_manifest(manifest_bytes, revision)
    except CrioError as exc:
        return [exc.message]
    problems: list[str] = []
    if manifest.revision != str(revision):
        problems.append(f"manifest names revision {manifest.revision}, expected {revision}")
    roles = {(entry.arch, entry.role) for entry in manifest.files}
    for arch in archs:
        if arch not in manifest.architectures:
            problems.append(f"architecture {arch} is not in the manifest")
        for role in REQUIRED_ROLES:
            if (arch, role) not in roles:
                problems.append(f"the manifest lists no {role} for {arch}")
    for entry in manifest.files:
        path = object_path(entry.name)
        info = seen[path] if path in seen else storage.stat(path)
        if info is None:
            problems.append(f"{path} is missing")
        elif info.size != entry.size:
            problems.append(f"{path} has {info.size} bytes, the manifest says {entry.size}")
        elif info.sha256 != entry.sha256:
            problems.append(f"{path} has sha256 {info.sha256 or 'unrecorded'}, the manifest says {entry.sha256}")
    return problems
