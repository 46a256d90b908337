"""The per-revision manifest `cri-o.<rev>.manifest.json`: every file of a revision with size and sha256.

The bundle builder writes it beside the tarballs; the publisher uploads it
last and checks the bucket against it before any marker moves; `verify` and
the installers read it to know what a complete revision is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from crio.artifacts import OPTIONAL_ROLES, REQUIRED_ROLES, arch_files, manifest_name
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.revision import Revision, parse_revision

SCHEMA = 1


@dataclass(frozen=True)
class FileEntry:
    name: str
    arch: str
    role: str
    size: int
    sha256: str


@dataclass
class RevisionManifest:
    revision: str
    version: str
    architectures: list[str]
    files: list[FileEntry] = field(default_factory=list)
    #: The revision's build time (the bundles' SOURCE_DATE_EPOCH: its commit time); installers order
    #: commit revisions by it. None in manifests written before it was recorded.
    source_date_epoch: int | None = None

    def to_json(self) -> str:
        data: dict[str, object] = {
            "schema": SCHEMA,
            "revision": self.revision,
            "version": self.version,
            "architectures": self.architectures,
            "files": [vars(f) for f in sorted(self.files, key=lambda f: f.name)],
        }
        if self.source_date_epoch is not None:
            data["source_date_epoch"] = self.source_date_epoch
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> RevisionManifest:
        try:
            data = json.loads(text)
            if data.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {data.get('schema')!r}")
            parse_revision(data["revision"])
            files = [FileEntry(**entry) for entry in data["files"]]
            epoch = data.get("source_date_epoch")
            if epoch is not None and (type(epoch) is not int or epoch < 0):
                raise ValueError(f"source_date_epoch {epoch!r} is not seconds since 1970")
            return cls(data["revision"], data["version"], list(data["architectures"]), files, epoch)
        except CrioError as exc:
            raise CrioError(f"revision manifest is malformed: {exc.message}", ExitCode.VERIFICATION) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CrioError(f"revision manifest is malformed: {exc!r}", ExitCode.VERIFICATION) from None

    def by_name(self) -> dict[str, FileEntry]:
        return {f.name: f for f in self.files}


def build_revision_manifest(directory: Path, revision: Revision, archs: list[str], version: str,
                            source_date_epoch: int | None = None, *,
                            known: dict[str, str] | None = None) -> RevisionManifest:
    """Describe the artifacts of `revision` found in `directory`; every required role must be there.

    `known` maps names to sha256 digests the caller computed while writing those
    very files (the bundle builder hashes its tarballs as it writes them), so
    they are not read a second time; everything else is hashed here.

    `source_date_epoch` is the build time the manifest records (what orders commit revisions).
    """
    entries: list[FileEntry] = []
    for arch in archs:
        for role, name in arch_files(arch, revision).items():
            path = directory / name
            if not path.is_file():
                if role in REQUIRED_ROLES:
                    raise CrioError(f"{name} is missing from {directory}", ExitCode.INCOMPLETE_SET)
                assert role in OPTIONAL_ROLES
                continue
            digest = (known or {}).get(name) or sha256_file(path)
            entries.append(FileEntry(name, arch, role, path.stat().st_size, digest))
    return RevisionManifest(str(revision), version, list(archs), entries, source_date_epoch)


def write_revision_manifest(directory: Path, manifest: RevisionManifest) -> Path:
    path = directory / manifest_name(manifest.revision)
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def checked_entry_path(directory: Path, entry: FileEntry, action: str) -> Path:
    """The local file of a manifest entry, refused unless it is there with the sha256 the manifest lists.

    What signs or attests a file vouches for the bytes the manifest names, never for what is on disk now.
    """
    path = directory / entry.name
    if not path.is_file():
        raise CrioError(f"{entry.name} is missing from {directory}", ExitCode.INCOMPLETE_SET)
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise CrioError(f"refusing to {action} {entry.name}: its sha256 {actual} differs from the revision "
                        f"manifest's {entry.sha256}", ExitCode.VERIFY_FAILED)
    return path


def read_local_manifest(directory: Path, revision: Revision | str) -> tuple[Path, RevisionManifest]:
    """The revision manifest `crio-release bundle` wrote into `directory`, refused unless it is `revision`'s."""
    path = directory / manifest_name(revision)
    if not path.is_file():
        raise CrioError(f"{path.name} is missing from {directory}; run crio-release bundle first",
                        ExitCode.INCOMPLETE_SET)
    manifest = RevisionManifest.from_json(path.read_bytes())
    if manifest.revision != str(revision):
        raise CrioError(f"{path.name} describes {manifest.revision}, not {revision}", ExitCode.VERIFY_FAILED)
    return path, manifest
