"""One storage interface for the publisher, with backends chosen by URL.

`gs://BUCKET[/PREFIX]` goes through google-cloud-storage (storage_gcs.py:
credentials as the client finds them; `STORAGE_EMULATOR_HOST` honoured).
`file:///DIR` is a local directory with the same layout, the embedded default
(storage_file.py). Both give the two guarantees the publisher is built on: a
write can be made conditional on the object's generation (0 = must not
exist), and a stale condition fails with `PreconditionFailed` instead of
overwriting. This module holds what they share: the interface, the hashes
and object descriptions they report, and `open_bucket`, which picks one.
"""

from __future__ import annotations

import base64
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from crio.artifacts import object_url, validate_bucket_name
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
        from crio_release.publish.storage_gcs import GcsStorage

        return GcsStorage(bucket, prefix)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise CrioError(f"bad bucket URL {url!r}: a file URL needs an absolute path, file:///DIR",
                            ExitCode.BUCKET_URL)
        from crio_release.publish.storage_file import FileStorage

        return FileStorage(Path(unquote(parsed.path)))
    shown = parsed.scheme or "none"
    raise CrioError(f"unknown bucket URL scheme {shown!r} in {url!r}: use {ACCEPTED_URLS}", ExitCode.BUCKET_URL)
