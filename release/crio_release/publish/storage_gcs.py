"""The `gs://BUCKET[/PREFIX]` backend of crio_release.publish.storage, through google-cloud-storage.

Credentials are whatever the client finds (GOOGLE_APPLICATION_CREDENTIALS,
gcloud's application default); `STORAGE_EMULATOR_HOST` points it at an
emulator. Every call has a time budget for the client's own retries, and
every transport, permission or checksum failure becomes one line with the
exit code of its class. Conditional writes map GCS's 412 to PreconditionFailed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crio.artifacts import object_url, public_base_url
from crio.errors import CrioError, ExitCode
from crio_release.publish.storage import SHA256_METADATA, Digests, ObjectInfo, PreconditionFailed, Storage

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
