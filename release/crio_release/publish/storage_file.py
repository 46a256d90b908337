"""The `file:///DIR` backend of crio_release.publish.storage: a local directory laid out like the bucket.

Generations are emulated with a JSON sidecar per object under DIR/.crio-storage,
written under an exclusive `flock` of the whole store together with an atomic
rename of the data, so concurrent publishers (processes or threads) get the
same compare-and-swap semantics as on GCS. Readers take a shared lock and
never create the lock file, so a read-only served directory stays readable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crio.checksums import CHUNK
from crio.errors import CrioError, ExitCode
from crio_release.publish.storage import Digests, ObjectInfo, PreconditionFailed, Storage

#: Hidden folder of a file:// bucket with the lock and the per-object generation sidecars.
STATE_DIR = ".crio-storage"


class FileStorage(Storage):
    """A local directory laid out like the bucket, with GCS-like generations and preconditions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    @property
    def _state(self) -> Path:
        return self.root / STATE_DIR

    def _path(self, path: str) -> Path:
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts) or parts[0] == STATE_DIR:
            raise CrioError(f"invalid object path {path!r}", ExitCode.INTERNAL)
        return self.root.joinpath(*parts)

    def _meta(self, path: str) -> Path:
        return self._state.joinpath("meta", *path.split("/")).with_name(path.split("/")[-1] + ".json")

    @contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        """Whole-store flock: writers exclusive, readers shared. Readers never create the lock file."""
        lock = self._state / "lock"
        if not exclusive and not lock.exists():
            yield
            return
        if exclusive:
            self._state.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def check(self) -> None:
        if not self.root.is_dir():
            raise CrioError(f"bucket directory {self.root} does not exist: create it or use another file:/// URL",
                            ExitCode.BUCKET_URL)

    def _stat_unlocked(self, path: str) -> ObjectInfo | None:
        target = self._path(path)
        if not target.is_file():
            return None
        try:
            meta = json.loads(self._meta(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Placed by hand, not by this backend: describe it from the file itself.
            digests = Digests.of_file(target)
            meta = {"generation": 1, "sha256": digests.sha256, "crc32c": digests.crc32c}
        return ObjectInfo(path, target.stat().st_size, int(meta["generation"]), meta.get("sha256"),
                          meta.get("md5"), meta.get("crc32c"), meta.get("content_type"), meta.get("cache_control"))

    def stat(self, path: str) -> ObjectInfo | None:
        with self._lock(exclusive=False):
            return self._stat_unlocked(path)

    def read(self, path: str) -> tuple[bytes, ObjectInfo] | None:
        with self._lock(exclusive=False):
            info = self._stat_unlocked(path)
            return None if info is None else (self._path(path).read_bytes(), info)

    def download(self, path: str, dest: Path) -> ObjectInfo:
        with self._lock(exclusive=False):
            info = self._stat_unlocked(path)
            if info is None:
                raise CrioError(f"{self.url}/{path} does not exist", ExitCode.VERIFY_FAILED)
            handle = open(self._path(path), "rb")  # the open inode survives a later rename
        with handle, open(dest, "wb") as out:
            shutil.copyfileobj(handle, out, CHUNK)
        return info

    def _commit(self, path: str, tmp: Path, digests: Digests, content_type: str, cache_control: str,
                if_generation_match: int) -> None:
        """Under the exclusive lock: check the precondition, then rename data and sidecar into place."""
        try:
            with self._lock(exclusive=True):
                current = self._stat_unlocked(path)
                generation = current.generation if current else 0
                if generation != if_generation_match:
                    raise PreconditionFailed(path)
                meta = {"generation": max(generation + 1, time.time_ns() // 1000), "sha256": digests.sha256,
                        "crc32c": digests.crc32c, "content_type": content_type,
                        "cache_control": cache_control}
                meta_path = self._meta(path)
                meta_path.parent.mkdir(parents=True, exist_ok=True)
                meta_tmp = meta_path.with_name(f".{meta_path.name}.{os.getpid()}.tmp")
                meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
                os.replace(tmp, self._path(path))
                os.replace(meta_tmp, meta_path)
        finally:
            tmp.unlink(missing_ok=True)

    def _temp(self, path: str) -> Path:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.chmod(name, 0o644)  # published objects are public; mkstemp makes them owner-only
        return Path(name)

    def upload_file(self, path: str, source: Path, *, digests: Digests, content_type: str,
                    cache_control: str, if_generation_match: int) -> None:
        tmp = self._temp(path)
        try:
            shutil.copyfile(source, tmp)
            # Hash what landed, not what the caller claims: the sidecar is the store's own record.
            stored = Digests.of_file(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._commit(path, tmp, stored, content_type, cache_control, if_generation_match)

    def write_bytes(self, path: str, data: bytes, *, content_type: str, cache_control: str,
                    if_generation_match: int) -> None:
        tmp = self._temp(path)
        try:
            tmp.write_bytes(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._commit(path, tmp, Digests.of_bytes(data), content_type, cache_control, if_generation_match)

    def list(self, prefix: str = "", *, recursive: bool = True) -> list[ObjectInfo]:
        if not self.root.is_dir():
            return []
        found = []
        with self._lock(exclusive=False):
            for dirpath, dirnames, filenames in os.walk(self.root):
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in filenames:
                    if filename.startswith("."):
                        continue
                    rel = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                    if rel.startswith(prefix) and (recursive or "/" not in rel[len(prefix):]):
                        info = self._stat_unlocked(rel)
                        if info is not None:
                            found.append(info)
        return sorted(found, key=lambda info: info.path)

    @property
    def public_base_url(self) -> str:
        return self.url
