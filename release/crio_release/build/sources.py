"""Fetch a component's source for one architecture into a private work directory.

Downloaded bytes are hostile until their sha256 matches the spec: they are
streamed to disk while hashed, and only then is an archive opened; members
are looked up by name and copied out as regular files into names chosen
here, so no archive entry can write outside the work directory. Identical
downloads are fetched once per build, shared by every architecture.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from crio.checksums import CHUNK
from crio.errors import CrioError, ExitCode
from crio.version import BuildInfo
from crio_release.build.elf import check_static_elf
from crio_release.build.spec import Component, Source

#: Download retries and the first back-off delay (doubled each time).
ATTEMPTS = 4
RETRY_DELAY = 0.25
TIMEOUT = 60


@dataclass(frozen=True)
class StagedFile:
    """One file of the bundle: its path below `cri-o/`, where its bytes are, its mode and owner."""

    dest: str
    path: Path
    mode: int
    component: str


class SourceFetcher:
    """Stages sources; thread-safe so architectures can be staged in parallel."""

    def __init__(self, work_dir: Path, *, nix_dir: Path, nix_result: Path | None, mtime: int,
                 build_info: BuildInfo, spec_path: Path | None = None) -> None:
        self.work_dir = work_dir
        self.spec_path = spec_path
        self.nix_dir = nix_dir
        self.nix_result = nix_result
        self.mtime = mtime
        self.build_info = build_info
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._done: dict[str, Any] = {}

    def _once(self, key: str, make: Any) -> Any:
        """Run `make()` once per key across threads; later callers get its result."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._done:
                try:
                    self._done[key] = make()
                except CrioError as exc:  # a failure is final too: other architectures must not retry it
                    self._done[key] = exc
            result = self._done[key]
        if isinstance(result, CrioError):
            raise CrioError(result.message, result.exit_code)
        return result

    def stage(self, component: Component, arch: str) -> list[StagedFile]:
        """The files `component` contributes to `arch`'s bundle."""
        source = component.source_for(arch)
        if source.kind == "url":
            return self._stage_url(component, source)
        if source.kind == "path":
            return self._stage_path(component, source)
        if source.kind == "build":
            return self._stage_build(component, source, arch)
        return self._stage_nix(component, source, arch)

    # url --------------------------------------------------------------------

    def _stage_url(self, component: Component, source: Source) -> list[StagedFile]:
        assert source.url and source.sha256
        download = self._once(f"url:{source.sha256}:{source.url}",
                              lambda: self._download(component, source.url, source.sha256))
        if not source.members:
            return [StagedFile(component.dest, download, component.mode, component.name)]
        key = f"extract:{source.sha256}:{'/'.join(source.members)}"
        extracted = self._once(key, lambda: self._extract(component, source, download))
        return _place(component, source, extracted)

    def _download(self, component: Component, url: str, expected: str) -> Path:
        """Fetch `url` with the shared retrying, resuming reader, hashing while writing."""
        from crio.download import (  # here: requests is slow to import; most builds fetch nothing
            Fetcher,
            RetryPolicy,
        )

        target_dir = self.work_dir / "downloads"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / expected
        digest = hashlib.sha256()
        fetcher = Fetcher(RetryPolicy(timeout=TIMEOUT, attempts=ATTEMPTS, delay=RETRY_DELAY),
                          user_agent="crio-release")
        try:
            with open(target, "wb") as out:
                for chunk in fetcher.stream(url):
                    digest.update(chunk)
                    out.write(chunk)
        except CrioError as exc:
            target.unlink(missing_ok=True)
            raise CrioError(f"component {component.name}: {exc.message}", ExitCode.BUILD) from None
        finally:
            fetcher.close()
        if digest.hexdigest() != expected:
            target.unlink(missing_ok=True)
            raise CrioError(
                f"component {component.name}: sha256 mismatch for {url}: expected {expected}, got {digest.hexdigest()}",
                ExitCode.CHECKSUM,
            )
        return target

    def _extract(self, component: Component, source: Source, archive: Path) -> dict[str, Path]:
        tag = hashlib.sha256("\0".join(source.members).encode()).hexdigest()[:16]
        out_dir = self.work_dir / "extract" / f"{source.sha256}-{tag}"
        out_dir.mkdir(parents=True)
        wanted = set(source.members)
        found: dict[str, Path] = {}
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    name = member.name.removeprefix("./")
                    if name not in wanted or name in found:
                        continue
                    if not member.isreg():
                        raise CrioError(
                            f"component {component.name}: member {name} of {source.url} is not a regular file",
                            ExitCode.BUILD,
                        )
                    target = out_dir / f"{len(found)}-{PurePosixPath(name).name}"
                    reader = tar.extractfile(member)
                    assert reader is not None
                    with reader, open(target, "wb") as handle:
                        shutil.copyfileobj(reader, handle, CHUNK)
                    found[name] = target
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise CrioError(
                f"component {component.name}: {source.url} is not a readable tar archive: {exc}", ExitCode.BUILD
            ) from None
        missing = sorted(wanted - set(found))
        if missing:
            raise CrioError(
                f"component {component.name}: {', '.join(missing)} not found in {source.url}", ExitCode.BUILD
            )
        return found

    # path -------------------------------------------------------------------

    def _stage_path(self, component: Component, source: Source) -> list[StagedFile]:
        assert source.path is not None
        return _walk(component, source.path, component.dest)

    # build ------------------------------------------------------------------

    def _stage_build(self, component: Component, source: Source, arch: str) -> list[StagedFile]:
        from dataclasses import replace

        from crio_release.build.zipapp import build_crio_status_zipapp

        def make() -> Path:
            out_dir = self.work_dir / "build" / arch
            out_dir.mkdir(parents=True, exist_ok=True)
            info = replace(self.build_info, platform=f"linux/{arch}")
            return build_crio_status_zipapp(out_dir / component.name, info, self.mtime)

        built = self._once(f"build:{source.build}:{component.name}:{arch}", make)
        return [StagedFile(component.dest, built, component.mode, component.name)]

    # nix --------------------------------------------------------------------

    def _stage_nix(self, component: Component, source: Source, arch: str) -> list[StagedFile]:
        assert source.nix is not None
        attr = source.nix
        output = self._once(f"nix:{attr}", lambda: self._nix_output(component, attr))
        found: dict[str, Path] = {}
        for member in source.members:
            path = output / member
            if not path.exists():
                raise CrioError(
                    f"component {component.name}: {member} not found in the nix output of {attr} ({output})",
                    ExitCode.BUILD,
                )
            if path.is_file() and component.mode & 0o111:
                # nix builds crio and pinns: each executable must be a static ELF of this bundle's
                # architecture (man pages and completions from the same build are not executables).
                try:
                    check_static_elf(path, arch, label=f"nix attribute {attr}: {member}")
                except CrioError as exc:
                    raise CrioError(f"component {component.name}: {exc.message}", exc.exit_code) from None
            found[member] = path
        return _place(component, source, found)

    def _nix_output(self, component: Component, attr: str) -> Path:
        try:
            module = importlib.import_module("crio_release.build.nix")
        except ModuleNotFoundError as exc:
            if exc.name != "crio_release.build.nix":
                raise
            raise CrioError(
                f"component {component.name}: cannot build nix attribute {attr}: crio_release.build.nix is missing",
                ExitCode.BUILD,
            ) from None
        # nix reads its pins from the very spec this bundle is built from.
        return Path(module.nix_output(attr, nix_dir=self.nix_dir, nix_result=self.nix_result, spec=self.spec_path))


def _place(component: Component, source: Source, found: dict[str, Path]) -> list[StagedFile]:
    """`member` lands at dest itself; `members` land in dest/ under their base names."""
    out: list[StagedFile] = []
    for member in source.members:
        path = found[member]
        dest = component.dest if source.single_member else f"{component.dest}/{PurePosixPath(member).name}"
        out.extend(_walk(component, path, dest))
    return out


def _walk(component: Component, root: Path, dest: str) -> list[StagedFile]:
    """A file, or every regular file below a directory; symlinks and special files are refused."""
    if root.is_symlink() and not root.resolve().is_relative_to(Path("/nix/store")):
        raise CrioError(f"component {component.name}: {root} is a symlink; bundles carry regular files only",
                        ExitCode.BUILD)
    if root.is_file():
        return [StagedFile(dest, root, component.mode, component.name)]
    if not root.is_dir():
        raise CrioError(f"component {component.name}: {root} does not exist", ExitCode.SPEC)
    out: list[StagedFile] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise CrioError(
                f"component {component.name}: {path} is a symlink; bundles carry regular files only",
                ExitCode.BUILD,
            )
        if path.is_dir():
            continue
        if not path.is_file():
            raise CrioError(f"component {component.name}: {path} is not a regular file", ExitCode.BUILD)
        out.append(StagedFile(f"{dest}/{rel}", path, component.mode, component.name))
    if not out:
        raise CrioError(f"component {component.name}: directory {root} holds no files", ExitCode.BUILD)
    return out
