"""HTTP(S) and file:// reads with retries and resume, as a stream of chunks.

Shared by the node side (crio-get) and the bundle builder's `url` sources, so
both classify failures and resume the same way. The same classification as scripts/get: 403/404/410 mean "not published",
408/429/5xx, resets, stalls and short bodies are retried (resuming with a
Range request from the last byte received), any other 4xx is permanent.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crio.errors import CrioError, ExitCode
from crio.http_get import HttpClient, PermanentRequestError
from crio.urls import file_url_path, redact, redact_url

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
        """The CRIO_GET_* numbers, each checked as scripts/get checks it (a usage error, never a traceback)."""
        return cls(float(env_integer("CRIO_GET_TIMEOUT", "30", MAX_TIMEOUT, "seconds")),
                   env_integer("CRIO_GET_RETRIES", "5", MAX_RETRIES, "attempts"),
                   env_delay("CRIO_GET_RETRY_DELAY", "1"))


#: Bounds of the CRIO_GET_* numbers (scripts/get checks the same).
MAX_TIMEOUT = 86400
MAX_RETRIES = 100
MAX_RETRY_DELAY = 600
_INTEGER_RE = re.compile(r"[1-9][0-9]{0,17}")
_DELAY_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?")


def env_integer(name: str, default: str, maximum: int, unit: str) -> int:
    """A positive whole number from the environment, at most `maximum` (ASCII digits, no leading zero)."""
    text = os.environ.get(name) or default   # empty means unset, as ${VAR:-default} in scripts/get
    if not _INTEGER_RE.fullmatch(text) or int(text) > maximum:
        raise CrioError(f"{name} must be a whole number of {unit} from 1 to {maximum}, got {text[:40]!r}",
                        ExitCode.USAGE)
    return int(text)


def env_delay(name: str, default: str) -> float:
    """Seconds between retries: 0 to 600, up to three decimals (0.5)."""
    text = os.environ.get(name) or default   # empty means unset, as ${VAR:-default} in scripts/get
    if not _DELAY_RE.fullmatch(text) or float(text) > MAX_RETRY_DELAY:
        raise CrioError(f"{name} must be a number of seconds from 0 to {MAX_RETRY_DELAY} (such as 1 or 0.5), "
                        f"got {text[:40]!r}", ExitCode.USAGE)
    return float(text)


def _file_path(url: str) -> str:
    return file_url_path(url)


class Fetcher:
    """One HTTP client (connections kept per origin) for all reads of a run."""

    def __init__(self, policy: RetryPolicy | None = None, log: Callable[[str], None] | None = None,
                 user_agent: str = "crio-get") -> None:
        self.policy = policy or RetryPolicy()
        self.client = HttpClient(user_agent, self.policy.timeout)
        self.log = log or (lambda _msg: None)

    def close(self) -> None:
        """Close the kept connections."""
        self.client.close()

    def read_small(self, url: str, limit: int = SMALL_LIMIT) -> bytes:
        """The whole body of a small object (marker, checksum, signature); more than `limit` bytes fails."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.stream(url):
            size += len(chunk)
            if size > limit:
                raise DownloadFailed(f"{redact_url(url)} is larger than {limit} bytes")
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
            raise DownloadFailed(f"unsupported URL '{redact_url(url)}'")
        shown = redact_url(url)
        offset = 0
        attempt = 1
        announced = False
        while True:
            status = 0
            try:
                headers = {"Range": f"bytes={offset}-"} if offset else {}
                with self.client.get(url, headers) as response:
                    status = response.status
                    if status in NOT_FOUND_STATUSES:
                        raise NotFound(f"{shown} not found (HTTP {status})")
                    if status == 416:
                        offset = 0
                        raise DownloadFailed(f"{shown}: range not satisfiable")
                    if 400 <= status < 500 and status not in RETRY_STATUSES:
                        raise DownloadFailed(f"{shown}: HTTP {status}", ExitCode.DOWNLOAD)
                    if status >= 300:
                        raise DownloadFailed(f"{shown}: HTTP {status}")
                    skip = offset if (offset and status == 200) else 0
                    if not announced and on_length is not None and status == 200:
                        length = response.headers.get("Content-Length")
                        on_length(int(length) if length and length.isdigit() else None)
                        announced = True
                    for chunk in response.chunks(CHUNK):
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
            except PermanentRequestError as exc:     # a URL or proxy setting no retry can fix
                raise DownloadFailed(redact(f"{shown}: {exc}", url)) from None
            except DownloadFailed as exc:
                if 400 <= status < 500 and status not in RETRY_STATUSES and status != 416:
                    raise
                error = str(exc)
            except Exception as exc:    # OSError (sockets, TLS), http.client's protocol errors, a short body
                if isinstance(exc, CrioError):
                    raise
                error = f"{type(exc).__name__}: {exc}"
            error = redact(error, url)
            if attempt >= self.policy.attempts:
                raise DownloadFailed(f"downloading {shown} failed after {attempt} attempts: {error}")
            self.log(f"retrying {shown} (attempt {attempt + 1} of {self.policy.attempts}; {error})")
            attempt += 1
            time.sleep(self.policy.delay)

    def _stream_file(self, url: str, on_length: Callable[[int | None], None] | None) -> Iterator[bytes]:
        path = _file_path(url)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"{url} not found") from None
        except OSError as exc:
            raise DownloadFailed(f"cannot read {url}: {exc.strerror}") from None
        with handle:
            if on_length is not None:
                on_length(os.fstat(handle.fileno()).st_size)
            while chunk := handle.read(CHUNK):
                yield chunk
