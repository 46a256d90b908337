"""Merge per-architecture build outputs (one runner per architecture) into one revision directory.

Each input directory is what `crio-release bundle --arch X` wrote: files and
a revision manifest for X alone. Every listed file is hashed against its own
manifest before it is copied, the inputs must agree on revision and version,
and the merged manifest lists every architecture, as if one run had built them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crio.artifacts import manifest_name
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest, build_revision_manifest, write_revision_manifest
from crio.revision import Revision


def merge_builds(inputs: list[Path], out: Path, revision: Revision) -> Path:
    """Copy every input's files into `out` (checked) and write the merged manifest; returns its path."""
    manifests: list[tuple[Path, RevisionManifest]] = []
    for directory in inputs:
        path = directory / manifest_name(revision)
        if not path.is_file():
            raise CrioError(f"{directory} holds no {path.name}: expected the output of crio-release bundle",
                            ExitCode.INCOMPLETE_SET)
        manifests.append((directory, RevisionManifest.from_json(path.read_bytes())))
    versions = {m.version for _, m in manifests}
    if len(versions) != 1 or any(m.revision != str(revision) for _, m in manifests):
        raise CrioError(f"the inputs disagree: revisions {sorted({m.revision for _, m in manifests})}, "
                        f"versions {sorted(versions)}; all must be {revision}", ExitCode.INCOMPLETE_SET)
    archs: list[str] = []
    for directory, manifest in manifests:
        clash = set(archs) & set(manifest.architectures)
        if clash:
            raise CrioError(f"{directory} builds {', '.join(sorted(clash))} again", ExitCode.PATH_CONFLICT)
        archs += manifest.architectures
        for entry in manifest.files:
            source = directory / entry.name
            if not source.is_file() or sha256_file(source) != entry.sha256:
                raise CrioError(f"{source} is missing or differs from its manifest", ExitCode.VERIFY_FAILED)
    out.mkdir(parents=True, exist_ok=True)
    for directory, manifest in manifests:
        for entry in manifest.files:
            target = out / entry.name
            if Path(directory).resolve() != out.resolve():
                shutil.copyfile(directory / entry.name, target)
    merged = build_revision_manifest(out, revision, archs, versions.pop())
    return write_revision_manifest(out, merged)
