"""One storage interface for the publisher, with backends chosen by URL.

`gs://BUCKET[/PREFIX]` goes through google-cloud-storage (credentials as the
client finds them; `STORAGE_EMULATOR_HOST` honoured). `file:///DIR` is a local
directory with the same layout, the embedded default. Both give the two
guarantees the publisher is built on: a write can be made conditional on the
object's generation (0 = must not exist), and a stale condition fails with
`PreconditionFailed` instead of overwriting. The file backend emulates
generations with a sidecar per object, written under an exclusive `flock`
together with an atomic rename of the data, so concurrent publishers
(processes or threads) see the same compare-and-swap semantics as on GCS.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from crio.artifacts import object_url, public_base_url, validate_bucket_name
from crio.checksums import CHUNK
from crio.errors import CrioError, ExitCode, UsageError

#: Object metadata key holding the hex sha256 the publisher computed.
SHA256_METADATA = "sha256"
ACCEPTED_URLS = "gs://BUCKET[/PREFIX] or file:///ABSOLUTE/DIR"


class PreconditionFailed(Exception):
    """The object's generation was not the one the write was conditional on (HTTP 412)."""


@dataclass(frozen=True)
class Digests:
    """Hashes of local bytes in the spellings GCS reports: hex sha256 (our metadata) and base64 crc32c.

    No md5: GCS computes crc32c for every object (md5 not for composites), and
    skipping md5 saves a third of the hashing time of a re-publish.
    """

    size: int
    sha256: str
    crc32c: str

    @classmethod
    def of_file(cls, path: Path) -> Digests:
        import google_crc32c

        sha, crc = hashlib.sha256(), google_crc32c.Checksum()
        size = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                size += len(chunk)
                sha.update(chunk)
                crc.update(chunk)
        return cls(size, sha.hexdigest(), _b64(crc.digest()))

    @classmethod
    def of_bytes(cls, data: bytes) -> Digests:
        import google_crc32c

        return cls(len(data), hashlib.sha256(data).hexdigest(), _b64(google_crc32c.Checksum(data).digest()))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says about one object: enough to check it without downloading it."""

    path: str
    size: int
    generation: int
    sha256: str | None = None
    md5: str | None = None
    crc32c: str | None = None
    content_type: str | None = None
    cache_control: str | None = None

    def matches(self, local: Digests) -> bool | None:
        """Same bytes as `local`? By sha256 metadata, else crc32c; None when nothing compares."""
        if self.size != local.size:
            return False
        for stored, mine in ((self.sha256, local.sha256), (self.crc32c, local.crc32c)):
            if stored:
                return stored == mine
        return None

    def describe_hash(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5}"
        return f"crc32c {self.crc32c}" if self.crc32c else "no recorded hash"


class Storage(ABC):
    """A bucket: objects addressed by slash-separated paths below the bucket root (or prefix)."""

    url: str

    @abstractmethod
    def check(self) -> None:
        """Fail fast with a one-line CrioError if the store cannot be reached or does not exist."""

    @abstractmethod
    def stat(self, path: str) -> ObjectInfo | None:
        """The object's size, generation and hashes; None if it does not exist."""

    @abstractmethod
    def read(self, path: str) -> tuple[bytes, ObjectInfo] | None:
        """A small object's bytes with the generation they belong to; None if absent."""

    @abstractmethod
    def download(self, path: str, dest: Path) -> ObjectInfo:
        """Stream an object to a local file; raise CrioError if it does not exist."""

    @abstractmethod
    def upload_file(self, path: str, source: Path, *, digests: Digests, content_type: str,
                    cache_control: str, if_generation_match: int) -> None:
        """Stream a file into the store if the object's generation is `if_generation_match` (0: absent)."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes, *, content_type: str, cache_control: str,
                    if_generation_match: int) -> None:
        """Write a small object (a marker) if its generation is `if_generation_match` (0: absent)."""

    @abstractmethod
    def list(self, prefix: str = "", *, recursive: bool = True) -> list[ObjectInfo]:
        """Objects whose path starts with `prefix`; non-recursive stops at the next '/'."""

    @property
    @abstractmethod
    def public_base_url(self) -> str:
        """Anonymous read URL of the bucket root (what installers use as BASE)."""

    def public_url(self, path: str) -> str:
        return object_url(self.public_base_url, path)


# Opening -------------------------------------------------------------------------


def open_bucket(url: str) -> Storage:
    """The backend for a bucket URL; an unknown scheme or a bad name is a one-line BUCKET_URL error."""
    parsed = urlparse(url)
    if parsed.scheme == "gs":
        bucket = parsed.netloc
        try:
            validate_bucket_name(bucket)
        except UsageError as exc:
            raise CrioError(f"bad bucket URL {url!r}: {exc.message}", ExitCode.BUCKET_URL) from None
        prefix = parsed.path.strip("/")
        if parsed.query or parsed.fragment or ".." in prefix.split("/"):
            raise CrioError(f"bad bucket URL {url!r}: use {ACCEPTED_URLS}", ExitCode.BUCKET_URL)
        return GcsStorage(bucket, prefix)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise CrioError(f"bad bucket URL {url!r}: a file URL needs an absolute path, file:///DIR",
                            ExitCode.BUCKET_URL)
        return FileStorage(Path(unquote(parsed.path)))
    shown = parsed.scheme or "none"
    raise CrioError(f"unknown bucket URL scheme {shown!r} in {url!r}: use {ACCEPTED_URLS}", ExitCode.BUCKET_URL)


# Google Cloud Storage ---------------------------------------------------------------

#: (connect, read) seconds: an unreachable endpoint fails in seconds, a slow upload is allowed.
TIMEOUT = (5.0, 300.0)
#: How long transient errors are retried per call; the probe gives up much sooner.
RETRY_SECONDS = 60.0
PROBE_RETRY_SECONDS = 3.0
#: First back-off of a retried call (doubling up to RETRY_MAX_DELAY).
RETRY_INITIAL_DELAY = 0.5
RETRY_MAX_DELAY = 10.0
#: Resumable-upload chunk (a multiple of 256 KiB), held in memory per running upload. The
#: client's default of 100 MiB would grow memory with the tarball; 32 MiB keeps it bounded
#: while a typical bundle still goes up in one or two requests.
UPLOAD_CHUNK = 32 * 1024 * 1024
#: Objects above this size go up resumably (the client's multipart limit), in UPLOAD_CHUNK pieces.
RESUMABLE_THRESHOLD = 8 * 1024 * 1024


class GcsStorage(Storage):
    """A GCS bucket (or the emulator named by STORAGE_EMULATOR_HOST), optionally below a prefix."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket_name = bucket
        self.prefix = prefix
        self.url = f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}"
        self._bucket = None

    # The client is created lazily so that parsing a URL never touches credentials.
    def _handle(self):  # -> google.cloud.storage.Bucket
        if self._bucket is None:
            from google.auth.exceptions import DefaultCredentialsError
            from google.cloud import storage

            try:
                if os.environ.get("STORAGE_EMULATOR_HOST"):
                    client = storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "crio-emulator"))
                else:
                    client = storage.Client()
            except DefaultCredentialsError:
                raise CrioError(
                    f"no Google Cloud credentials found for {self.url}: set GOOGLE_APPLICATION_CREDENTIALS, "
                    "run `gcloud auth application-default login`, or set STORAGE_EMULATOR_HOST for an emulator",
                    ExitCode.CREDENTIALS,
                ) from None
            self._bucket = client.bucket(self.bucket_name)
        return self._bucket

    def _name(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _rel(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    @staticmethod
    def _retry(seconds: float | None = None):
        """The client's retry predicate (429, 5xx, connection errors) with our time budget."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(RETRY_SECONDS if seconds is None else seconds).with_delay(
            initial=RETRY_INITIAL_DELAY, maximum=RETRY_MAX_DELAY)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate transport and permission failures into one-line errors with their codes."""
        import requests
        from google.api_core import exceptions as gexc
        from google.api_core.exceptions import RetryError
        from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
        from google.cloud.storage.exceptions import DataCorruption

        try:
            yield
        except RetryError as exc:
            cause = exc.cause
            endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com"
            status = getattr(cause, "code", None) or getattr(getattr(cause, "response", None), "status_code", None)
            if status:  # an HTTP answer (JSON API error, or a media upload's InvalidResponse)
                raise CrioError(f"storage at {endpoint} kept failing while {what}, gave up after retries: "
                                f"HTTP {status}", ExitCode.STORAGE_UNREACHABLE) from None
            raise CrioError(f"cannot reach storage at {endpoint} ({what}): {type(cause).__name__}",
                            ExitCode.STORAGE_UNREACHABLE) from None
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TransportError) as exc:
            endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com"
            raise CrioError(f"cannot reach storage at {endpoint} ({what}): {type(exc).__name__}",
                            ExitCode.STORAGE_UNREACHABLE) from None
        except (DefaultCredentialsError, RefreshError, gexc.Unauthorized) as exc:
            raise CrioError(f"credentials rejected for {self.url} ({what}): {exc}", ExitCode.CREDENTIALS) from None
        except gexc.Forbidden as exc:
            raise CrioError(f"permission denied on {self.url} ({what}): {exc.message}",
                            ExitCode.CREDENTIALS) from None
        except gexc.ServerError as exc:
            raise CrioError(f"storage failed {what} after retries: {exc.code} {exc.message}",
                            ExitCode.STORAGE_UNREACHABLE) from None
        except gexc.ClientError as exc:
            raise CrioError(f"storage refused {what}: {exc.code} {exc.message}", ExitCode.INTERNAL) from None
        except DataCorruption as exc:
            raise CrioError(f"checksum mismatch {what}: {exc}", ExitCode.VERIFY_FAILED) from None

    @staticmethod
    def _info(rel: str, blob) -> ObjectInfo:
        metadata = blob.metadata or {}
        return ObjectInfo(rel, int(blob.size or 0), int(blob.generation or 0), metadata.get(SHA256_METADATA),
                          blob.md5_hash, blob.crc32c, blob.content_type, blob.cache_control)

    def check(self) -> None:
        from google.api_core import exceptions as gexc

        bucket = self._handle()
        with self._errors("listing the bucket"):
            try:
                iterator = bucket.client.list_blobs(bucket, max_results=1, prefix=self._name(""),
                                                    retry=self._retry(PROBE_RETRY_SECONDS), timeout=(3.0, 30.0))
                list(iterator)
            except gexc.NotFound:
                raise CrioError(f"bucket {self.bucket_name!r} does not exist", ExitCode.BUCKET_URL) from None

    def stat(self, path: str) -> ObjectInfo | None:
        with self._errors(f"reading {path}"):
            blob = self._handle().get_blob(self._name(path), retry=self._retry(), timeout=TIMEOUT)
        return None if blob is None else self._info(path, blob)

    def read(self, path: str) -> tuple[bytes, ObjectInfo] | None:
        from google.api_core import exceptions as gexc

        for _ in range(10):
            info = self.stat(path)
            if info is None:
                return None
            blob = self._handle().blob(self._name(path))
            with self._errors(f"downloading {path}"):
                try:
                    data = blob.download_as_bytes(if_generation_match=info.generation, retry=self._retry(),
                                                  timeout=TIMEOUT, checksum=None)
                except gexc.PreconditionFailed:
                    continue  # replaced between stat and read: read again
                except gexc.NotFound:
                    continue
            return data, info
        raise CrioError(f"{path} keeps changing while being read", ExitCode.STORAGE_UNREACHABLE)

    def download(self, path: str, dest: Path) -> ObjectInfo:
        from google.api_core import exceptions as gexc

        info = self.stat(path)
        if info is None:
            raise CrioError(f"{self.url}/{path} does not exist", ExitCode.VERIFY_FAILED)
        with self._errors(f"downloading {path}"):
            try:
                self._handle().blob(self._name(path)).download_to_filename(
                    str(dest), retry=self._retry(), timeout=TIMEOUT, checksum=None)
            except gexc.NotFound:
                raise CrioError(f"{self.url}/{path} does not exist", ExitCode.VERIFY_FAILED) from None
        return info

    def upload_file(self, path: str, source: Path, *, digests: Digests, content_type: str,
                    cache_control: str, if_generation_match: int) -> None:
        from google.api_core import exceptions as gexc

        blob = self._handle().blob(self._name(path), chunk_size=UPLOAD_CHUNK)
        blob.metadata = {SHA256_METADATA: digests.sha256}
        blob.cache_control = cache_control
        with self._errors(f"uploading {path}"):
            try:
                blob.upload_from_filename(str(source), content_type=content_type,
                                          if_generation_match=if_generation_match,
                                          retry=self._retry(), timeout=TIMEOUT)
            except gexc.PreconditionFailed:
                raise PreconditionFailed(path) from None

    def write_bytes(self, path: str, data: bytes, *, content_type: str, cache_control: str,
                    if_generation_match: int) -> None:
        from google.api_core import exceptions as gexc

        blob = self._handle().blob(self._name(path))
        blob.metadata = {SHA256_METADATA: hashlib.sha256(data).hexdigest()}
        blob.cache_control = cache_control
        with self._errors(f"writing {path}"):
            try:
                blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match,
                                        retry=self._retry(), timeout=TIMEOUT)
            except gexc.PreconditionFailed:
                raise PreconditionFailed(path) from None

    def list(self, prefix: str = "", *, recursive: bool = True) -> list[ObjectInfo]:
        bucket = self._handle()
        with self._errors(f"listing {prefix or '/'}"):
            blobs = bucket.client.list_blobs(bucket, prefix=self._name(prefix),
                                             delimiter=None if recursive else "/",
                                             retry=self._retry(), timeout=TIMEOUT)
            found = [self._info(self._rel(blob.name), blob) for blob in blobs]
        if not recursive:  # emulators may ignore the delimiter
            found = [info for info in found if "/" not in info.path[len(prefix):]]
        return sorted(found, key=lambda info: info.path)

    @property
    def public_base_url(self) -> str:
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        base = f"{emulator.rstrip('/')}/{self.bucket_name}" if emulator else public_base_url(self.bucket_name)
        return object_url(base, self.prefix) if self.prefix else base


# Local directory ---------------------------------------------------------------------

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
