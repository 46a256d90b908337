"""Build the static bundles of one revision: `cri-o.<arch>.<rev>.tar.gz` with its side files, per architecture.

For each architecture: stage every component's source (spec.py, sources.py),
run the build-time checks (checks.py), stream the sorted tree through the
reproducible tar.gz writer (tarball.py) while hashing every file, append the
in-bundle `manifest.json` carrying those hashes, then write the `.sha256sum`
and the validated SPDX SBOM (sbom.py). After all architectures the
per-revision manifest (crio.manifest) is written. Everything is produced in
a private temporary directory inside `out_dir` and renamed into place only
when every architecture succeeded, so a failed build leaves no partial file.

Before anything is fetched, the spec's pins are checked (pins.py): its nix
pins when it has a [nix] table, every production rule when it says
`production = true`.

The mtime of every entry is, in order: the `source_date_epoch` argument, the
SOURCE_DATE_EPOCH environment variable, or the commit date of the revision
in the repository being released (`repo`, default: the current directory;
see repository.py). An error asks for one of the others when git does not
know the revision.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from crio.arch import normalize_arch
from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    BUNDLE_MANIFEST,
    BUNDLE_TOP,
    checksum_name,
    sbom_name,
    tarball_name,
)
from crio.bundle_manifest import BundleComponent, BundleFile, BundleManifest
from crio.checksums import format_sha256sum
from crio.errors import CrioError, ExitCode
from crio.manifest import build_revision_manifest, write_revision_manifest
from crio.revision import Revision
from crio.version import BuildInfo, version
from crio_release.build.checks import check_conflicts, check_elf_machines, check_regular_files
from crio_release.build.layout import check_provided, with_templates
from crio_release.build.pins import check_spec_pins
from crio_release.build.repository import ReleaseRepository
from crio_release.build.sbom import SbomInput, write_sbom
from crio_release.build.sources import SourceFetcher, StagedFile
from crio_release.build.spec import RESERVED_NAME, Spec, load_spec
from crio_release.build.tarball import BlockPool, TarballWriter, sort_key

PACKAGE_DIR = Path(__file__).resolve().parent
SPECS_DIR = PACKAGE_DIR / "specs"
EMBEDDED_SPEC = SPECS_DIR / "embedded.toml"
BUNDLE_FILES_DIR = PACKAGE_DIR / "files"
#: Files every bundle carries from files/, with their modes.
BUNDLE_FILES: dict[str, int] = {BUNDLE_INSTALL_SCRIPT: 0o755, "Makefile": 0o644, "README.md": 0o644}
BUILDER = RESERVED_NAME   # owner of the builder's own files in messages and the manifest


@dataclass(frozen=True)
class WrittenFile:
    """A file the build wrote into `out_dir`."""

    name: str
    path: Path
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class ArchBundle:
    arch: str
    tarball: WrittenFile
    checksum: WrittenFile
    sbom: WrittenFile
    file_count: int


@dataclass(frozen=True)
class BuildResult:
    revision: Revision
    version: str
    out_dir: Path
    source_date_epoch: int
    bundles: dict[str, ArchBundle] = field(default_factory=dict)
    manifest: WrittenFile | None = None

    def written(self) -> list[WrittenFile]:
        """Every file written, in the order they are listed to users."""
        out = [f for b in self.bundles.values() for f in (b.tarball, b.checksum, b.sbom)]
        return out + ([self.manifest] if self.manifest else [])

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": str(self.revision),
            "version": self.version,
            "out_dir": str(self.out_dir),
            "source_date_epoch": self.source_date_epoch,
            "architectures": list(self.bundles),
            "files": [f.as_dict() for f in self.written()],
        }


def resolve_mtime(source_date_epoch: int | None, revision: Revision, repository: ReleaseRepository) -> int:
    """The one mtime of every entry: argument, SOURCE_DATE_EPOCH, or the revision's commit date in `repository`."""
    if source_date_epoch is not None:
        if source_date_epoch < 0:
            raise CrioError(f"source date epoch must be >= 0, got {source_date_epoch}", ExitCode.USAGE)
        return int(source_date_epoch)
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env is not None:
        if not env.isdigit():
            raise CrioError(f"SOURCE_DATE_EPOCH must be seconds since 1970 (digits), got {env!r}", ExitCode.USAGE)
        return int(env)
    return repository.commit_date(revision)


def _build_info(revision: Revision, mtime: int, repository: ReleaseRepository) -> BuildInfo:
    import platform

    return BuildInfo(
        version=str(version()),
        git_commit=str(revision),
        git_tree_state=repository.tree_state(),
        build_date=datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        platform="linux/any",
        python=platform.python_version(),
    )


class _HashingFile:
    """Write-through sink that hashes the compressed tarball as it is written (no second read)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)


def build_bundles(spec_path: Path | None, archs: list[str], revision: Revision, out_dir: Path, *,
                  repo: Path | None = None, source_date_epoch: int | None = None, nix_result: Path | None = None,
                  progress: bool = False, bundle_files: Path | None = None, nix_dir: Path | None = None,
                  on_event: Callable[[str], None] | None = None) -> BuildResult:
    """Build one bundle per architecture of `revision` into `out_dir`, plus the revision manifest.

    `spec_path` None means the embedded spec. `repo` is the repository being
    released (default: the current directory): the commit date and `nix/` come
    from it; `nix_dir` overrides the latter (tests). `bundle_files` overrides the
    directory holding install/Makefile/README.md (tests). `on_event` gets a
    plain line per finished step (CI logs); `progress` shows tqdm bars.
    """
    arch_list = list(dict.fromkeys(normalize_arch(a) for a in archs))
    if not arch_list:
        raise CrioError("no architecture given; use --arch amd64 (repeatable)", ExitCode.USAGE)
    spec = load_spec(Path(spec_path) if spec_path else EMBEDDED_SPEC)
    check_spec_pins(spec)
    spec.check_complete(arch_list)
    repository = ReleaseRepository.at(repo)
    mtime = resolve_mtime(source_date_epoch, revision, repository)
    files_dir = Path(bundle_files) if bundle_files else BUNDLE_FILES_DIR
    extra = _bundle_files(files_dir)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".crio-bundle-", dir=out_dir))
    except OSError as exc:
        raise CrioError(f"cannot create output directory {out_dir}: {exc.strerror}", ExitCode.USAGE) from None
    crio_version = str(version())
    try:
        stage = tmp / "out"
        stage.mkdir()
        fetcher = SourceFetcher(tmp / "work", nix_dir=nix_dir or repository.nix_dir, nix_result=nix_result,
                                mtime=mtime, build_info=_build_info(revision, mtime, repository),
                                spec_path=spec.path)
        with BlockPool() as blocks:
            builder = _ArchBuilder(spec, revision, crio_version, mtime, fetcher, extra, stage, progress, on_event,
                                   blocks)
            bundles = _build_all(builder, arch_list)
        known = {f.name: f.sha256 for b in bundles for f in (b.tarball, b.checksum, b.sbom)}
        manifest = build_revision_manifest(stage, revision, arch_list, crio_version, mtime, known=known)
        manifest_path = write_revision_manifest(stage, manifest)
        result = _move_into(out_dir, stage, revision, crio_version, mtime, bundles, manifest_path)
    except OSError as exc:  # disk full, permissions: one line, and the finally below removes the partial files
        where = f" ({exc.filename})" if exc.filename else ""
        raise CrioError(f"cannot write the bundles to {out_dir}: {exc.strerror or exc}{where}", ExitCode.BUILD) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _build_all(builder: _ArchBuilder, arch_list: list[str]) -> list[ArchBundle]:
    """Every architecture at once: their reading, hashing and SBOMs overlap; compression shares one pool."""
    if len(arch_list) == 1:
        return [builder.build(arch_list[0], 0)]
    with ThreadPoolExecutor(len(arch_list), thread_name_prefix="arch") as pool:
        futures = [pool.submit(builder.build, arch, i) for i, arch in enumerate(arch_list)]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]


def _bundle_files(files_dir: Path) -> list[StagedFile]:
    out = []
    for name, mode in BUNDLE_FILES.items():
        path = files_dir / name
        if not path.is_file():
            raise CrioError(f"bundle file {name} is missing from {files_dir}", ExitCode.BUILD)
        out.append(StagedFile(name, path, mode, BUILDER))
    return out


def _move_into(out_dir: Path, stage: Path, revision: Revision, crio_version: str, mtime: int,
               bundles: list[ArchBundle], manifest_path: Path) -> BuildResult:
    """Rename every finished file from the private `stage` into out_dir; the revision manifest goes last."""
    def move(written: WrittenFile) -> WrittenFile:
        target = out_dir / written.name
        os.replace(written.path, target)
        return WrittenFile(written.name, target, written.size, written.sha256)

    moved: dict[str, ArchBundle] = {}
    for bundle in bundles:
        moved[bundle.arch] = ArchBundle(bundle.arch, move(bundle.tarball), move(bundle.checksum),
                                        move(bundle.sbom), bundle.file_count)
    from crio.checksums import sha256_file

    manifest = move(WrittenFile(manifest_path.name, manifest_path, manifest_path.stat().st_size,
                                sha256_file(manifest_path)))
    return BuildResult(revision, crio_version, out_dir, mtime, moved, manifest)


class _ArchBuilder:
    def __init__(self, spec: Spec, revision: Revision, crio_version: str, mtime: int, fetcher: SourceFetcher,
                 extra: list[StagedFile], stage: Path, progress: bool,
                 on_event: Callable[[str], None] | None, blocks: BlockPool) -> None:
        self.spec = spec
        self.revision = revision
        self.version = crio_version
        self.mtime = mtime
        self.fetcher = fetcher
        self.extra = extra
        self.stage = stage
        self.progress = progress
        self.on_event = on_event
        self.blocks = blocks

    def build(self, arch: str, position: int) -> ArchBundle:
        staged: list[StagedFile] = list(self.extra)
        for component in self.spec.components:
            files = self.fetcher.stage(component, arch)
            if component.templates:
                files = with_templates(files, self.fetcher.work_dir / f"rendered-{arch}" / component.name)
            staged.extend(files)
        check_conflicts(staged)
        check_provided(staged, self.spec)
        check_regular_files(staged)
        check_elf_machines(staged, arch)
        staged.sort(key=lambda s: sort_key(s.dest))
        name = tarball_name(arch, self.revision)
        tar_path = self.stage / name
        bar = self._bar(arch, staged, position)
        with open(tar_path, "wb") as handle:
            sink = _HashingFile(handle)
            writer = TarballWriter(sink, self.mtime, pool=self.blocks)
            try:
                for item in staged:
                    writer.add_file(f"{BUNDLE_TOP}/{item.dest}", item.mode, item.path,
                                    what=f"component {item.component}")
                    if bar is not None:
                        bar.update(writer.records[-1].size)
                # Last, so it can list every file's hash from this same pass.
                writer.add_bytes(f"{BUNDLE_TOP}/{BUNDLE_MANIFEST}", 0o644, self._manifest(arch, staged, writer))
                writer.close()
            except BaseException:
                writer.abort()
                raise
            finally:
                if bar is not None:
                    bar.close()
        tarball = WrittenFile(name, tar_path, sink.size, sink.digest.hexdigest())
        checksum = self._write_text(checksum_name(arch, self.revision), format_sha256sum(tarball.sha256, name))
        owners = {f"{BUNDLE_TOP}/{s.dest}": s.component for s in staged}
        sbom_file = self.stage / sbom_name(arch, self.revision)
        write_sbom(sbom_file, SbomInput(
            tarball_name=name, tarball_sha256=tarball.sha256, revision=self.revision, version=self.version,
            arch=arch, mtime=self.mtime,
            components=[(c, c.source_for(arch)) for c in self.spec.components],
            records=list(writer.records), file_owner=owners,
        ))
        sbom = self._written(sbom_file)
        if self.on_event:
            self.on_event(f"{arch}: {len(writer.records)} files, {tarball.size} bytes compressed")
        return ArchBundle(arch, tarball, checksum, sbom, len(writer.records))

    def _manifest(self, arch: str, staged: list[StagedFile], writer: TarballWriter) -> bytes:
        owners = {s.dest: s.component for s in staged}
        prefix = f"{BUNDLE_TOP}/"
        manifest = BundleManifest(
            revision=str(self.revision), version=self.version, arch=arch, source_date_epoch=self.mtime,
            components=[
                BundleComponent(c.name, c.version, c.license, c.homepage, c.dest, f"{c.mode:04o}",
                                c.source_for(arch).describe())
                for c in self.spec.components
            ],
            files=[
                BundleFile(r.name.removeprefix(prefix), r.sha256, r.size, f"{r.mode:04o}",
                           owners[r.name.removeprefix(prefix)])
                for r in writer.records
            ],
        )
        return manifest.to_json().encode()

    def _written(self, path: Path) -> WrittenFile:
        data = path.read_bytes()
        return WrittenFile(path.name, path, len(data), hashlib.sha256(data).hexdigest())

    def _write_text(self, name: str, text: str) -> WrittenFile:
        path = self.stage / name
        path.write_text(text, encoding="utf-8")
        return self._written(path)

    def _bar(self, arch: str, staged: list[StagedFile], position: int) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        total = sum(s.path.stat().st_size for s in staged)
        return tqdm(total=total, desc=arch, unit="B", unit_scale=True, position=position, file=sys.stderr,
                    leave=True)
