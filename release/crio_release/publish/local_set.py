"""The local set a publish reads: every file of one revision in the builder's output, checked first.

Why apart from publish.py: what a directory holds (complete for the
architectures asked for, consistent with its own manifest) is decided before
any bucket is touched, and the same files are then hashed lazily, only when
their bytes are about to matter.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from crio.artifacts import (
    REQUIRED_ROLES,
    arch_files,
    manifest_bundle_name,
    manifest_name,
    manifest_signature_name,
    object_path,
    revision_files,
)
from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio_release.publish.completeness import parse_manifest
from crio_release.publish.storage import Digests

#: Files hashed at once (hashlib releases the GIL).
HASH_WORKERS = 4


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
    with ThreadPoolExecutor(max_workers=max(1, min(HASH_WORKERS, len(files)))) as pool:
        list(pool.map(lambda f: f.digests, files))
    for local in files:
        if local.expected_sha256 is not None and local.digests.sha256 != local.expected_sha256:
            raise CrioError(f"{local.path} has sha256 {local.digests.sha256} but the manifest says "
                            f"{local.expected_sha256}: rebuild the set", ExitCode.INCOMPLETE_SET)




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
    per_revision = [directory / name for name in revision_files(revision).values()]
    for path in (*per_revision, manifest_path, directory / manifest_signature_name(revision),
                 directory / manifest_bundle_name(revision)):
        if path.is_file():
            files.append(LocalFile(path.name, path, path.stat().st_size))
    return files

