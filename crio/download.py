"""HTTP(S) and file:// reads with retries and resume, as a stream of chunks.

Shared by the node side (crio-get) and the bundle builder's `url` sources, so
both classify failures and resume the same way. The same classification as scripts/get: 403/404/410 mean "not published",
408/429/5xx, resets, stalls and short bodies are retried (resuming with a
Range request from the last byte received), any other 4xx is permanent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import requests

from crio.errors import CrioError, ExitCode

CHUNK = 1 << 20
#: Markers, checksums and signatures are tiny; a bigger answer is refused before it fills memory.
SMALL_LIMIT = 1 << 20
NOT_FOUND_STATUSES = frozenset({403, 404, 410})
RETRY_STATUSES = frozenset({408, 429})


class NotFound(CrioError):
    """The object is not published (403/404/410, or no such file)."""

    exit_code = ExitCode.RESOLUTION


class DownloadFailed(CrioError):
    exit_code = ExitCode.DOWNLOAD


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try; read from CRIO_GET_TIMEOUT / CRIO_GET_RETRIES / CRIO_GET_RETRY_DELAY like scripts/get."""

    timeout: float = 30.0
    attempts: int = 5
    delay: float = 1.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        def number(name: str, default: str) -> int:
            text = os.environ.get(name, default)
            if not text.isdigit() or int(text) < 1:
                raise CrioError(f"{name} must be a positive number, got {text!r}", ExitCode.USAGE)
            return int(text)

        return cls(float(number("CRIO_GET_TIMEOUT", "30")), number("CRIO_GET_RETRIES", "5"),
                   float(os.environ.get("CRIO_GET_RETRY_DELAY", "1")))


def _file_path(url: str) -> str:
    path = unquote(urlsplit(url).path)
    return path


class Fetcher:
    """One requests session for all reads of a run."""

    def __init__(self, policy: RetryPolicy | None = None, log: Callable[[str], None] | None = None,
                 user_agent: str = "crio-get") -> None:
        self.policy = policy or RetryPolicy()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.log = log or (lambda _msg: None)

    def read_small(self, url: str, limit: int = SMALL_LIMIT) -> bytes:
        """The whole body of a small object (marker, checksum, signature); more than `limit` bytes fails."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.stream(url):
            size += len(chunk)
            if size > limit:
                raise DownloadFailed(f"{url} is larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def size(self, url: str) -> int | None:
        """Content length if cheaply known (file:// only; HTTP learns it from the GET)."""
        if url.startswith("file://"):
            try:
                return os.path.getsize(_file_path(url))
            except OSError:
                return None
        return None

    def stream(self, url: str, on_length: Callable[[int | None], None] | None = None) -> Iterator[bytes]:
        """Yield the body in order exactly once, resuming after transient failures."""
        if url.startswith("file://"):
            yield from self._stream_file(url, on_length)
            return
        if not url.startswith(("http://", "https://")):
            raise DownloadFailed(f"unsupported URL {url!r}")
        offset = 0
        attempt = 1
        announced = False
        while True:
            status = 0
            try:
                headers = {"Range": f"bytes={offset}-"} if offset else {}
                with self.session.get(url, headers=headers, stream=True,
                                      timeout=(self.policy.timeout, self.policy.timeout)) as response:
                    status = response.status_code
                    if status in NOT_FOUND_STATUSES:
                        raise NotFound(f"{url} not found (HTTP {status})")
                    if status == 416:
                        offset = 0
                        raise DownloadFailed(f"{url}: range not satisfiable")
                    if 400 <= status < 500 and status not in RETRY_STATUSES:
                        raise DownloadFailed(f"{url}: HTTP {status}", ExitCode.DOWNLOAD)
                    response.raise_for_status()
                    skip = offset if (offset and status == 200) else 0
                    if not announced and on_length is not None and status == 200:
                        length = response.headers.get("Content-Length")
                        on_length(int(length) if length and length.isdigit() else None)
                        announced = True
                    for chunk in response.raw.stream(CHUNK, decode_content=False):
                        if skip:
                            if len(chunk) <= skip:
                                skip -= len(chunk)
                                continue
                            chunk = chunk[skip:]
                            skip = 0
                        offset += len(chunk)
                        yield chunk
                    return
            except NotFound:
                raise
            except DownloadFailed as exc:
                if 400 <= status < 500 and status not in RETRY_STATUSES and status != 416:
                    raise
                error = str(exc)
            except (requests.RequestException, OSError, Exception) as exc:  # urllib3 protocol errors too
                if isinstance(exc, CrioError):
                    raise
                error = f"{type(exc).__name__}: {exc}"
            if attempt >= self.policy.attempts:
                raise DownloadFailed(f"downloading {url} failed after {attempt} attempts: {error}")
            self.log(f"retrying {url} (attempt {attempt + 1} of {self.policy.attempts}; {error})")
            attempt += 1
            time.sleep(self.policy.delay)

    def _stream_file(self, url: str, on_length: Callable[[int | None], None] | None) -> Iterator[bytes]:
        path = _file_path(url)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"{url} not found") from None
        except OSError as exc:
            raise DownloadFailed(f"cannot read {url}: {exc}") from None
        with handle:
            if on_length is not None:
                on_length(os.fstat(handle.fileno()).st_size)
            while chunk := handle.read(CHUNK):
                yield chunk
