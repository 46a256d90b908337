"""A small GitHub REST client for release notes: pagination, rate limits waited out, 5xx retried.

Configured as GitHub Actions names things: `GITHUB_TOKEN` (optional; sent as a
bearer token, never printed) and `GITHUB_API_URL` (default
https://api.github.com, or a GitHub Enterprise API). Failure policy:

* 403/429 with `Retry-After` or `X-RateLimit-Remaining: 0` + `X-RateLimit-Reset`:
  a visible message, then the wait is honoured; a wait longer than `max_wait`
  fails at once saying when the limit resets (no silent hour-long hang in CI);
* 5xx and connection failures: retried `retries` times with doubling delays
  (1, 2, 4 s, never more than `max_wait`);
* 401, and 403 that is no rate limit: an error (exit code GITHUB) naming the
  request and what to fix; 404 (and 422 "no such commit"): `GitHubNotFound`,
  which the callers turn into a skipped note with a warning.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from crio.errors import CrioError, ExitCode

DEFAULT_API_URL = "https://api.github.com"
#: GitHub's own answers are small; a bigger one is refused before it fills memory.
MAX_RESPONSE_BYTES = 8 << 20


class GitHubError(CrioError):
    exit_code = ExitCode.GITHUB


class GitHubNotFound(GitHubError):
    """404 (or 422 for an unknown commit): the object is not on GitHub, or not visible with this token."""


def api_url_from_env() -> str:
    url = os.environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise CrioError(f"invalid GITHUB_API_URL {url!r}: expected an http(s) URL such as {DEFAULT_API_URL}",
                        ExitCode.USAGE)
    return url.rstrip("/")


def _stderr(message: str) -> None:
    from tqdm import tqdm  # tqdm.write keeps a running progress bar intact

    tqdm.write(message, file=sys.stderr)


class GitHubClient:
    """GET-only access to one API root, safe to share between threads; counts the requests it makes."""

    def __init__(self, api_url: str = DEFAULT_API_URL, token: str | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 max_wait: float = 900.0, retries: int = 3, backoff: float = 1.0, timeout: float = 30.0,
                 say: Callable[[str], None] = _stderr) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/vnd.github+json", "User-Agent": "crio-release",
                                     "X-GitHub-Api-Version": "2022-11-28"})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.sleep, self.clock, self.say = sleep, clock, say
        self.max_wait, self.retries, self.backoff, self.timeout = max_wait, retries, backoff, timeout
        self.requests = 0
        self._lock = threading.Lock()
        self._resume_at = 0.0

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer to GET PATH (relative to the API root)."""
        return self._get(f"{self.api_url}/{path.lstrip('/')}", params)[0]

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"` (same API root only) 100 at a time."""
        url: str | None = f"{self.api_url}/{path.lstrip('/')}"
        query: dict[str, Any] | None = {**(params or {}), "per_page": 100}
        while url:
            data, response = self._get(url, query)
            if not isinstance(data, list):
                raise GitHubError(f"GitHub answered GET {urlsplit(url).path} with {type(data).__name__}, "
                                  "expected a list")
            yield from data
            url, query = response.links.get("next", {}).get("url"), None
            if url and not url.startswith(self.api_url + "/"):
                raise GitHubError(f"GitHub's next-page link leaves {self.api_url}: refusing to follow it")

    # one request, with waits and retries -----------------------------------------

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[Any, requests.Response]:
        what = f"GET {urlsplit(url).path}"
        failures = limited = 0
        while True:
            self._wait_if_paused()
            with self._lock:
                self.requests += 1
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                failures = self._retry_or_fail(failures, what, f"connection failed ({type(exc).__name__})")
                continue
            status = response.status_code
            if status in (403, 429) and self._rate_limited(response, what):
                limited += 1
                if limited > 10:
                    raise GitHubError(f"{what}: still rate limited after 10 waits; run again later")
                continue
            if status >= 500:
                failures = self._retry_or_fail(failures, what, f"GitHub answered {status}")
                continue
            if status == 200:
                return self._decode(response, what), response
            raise self._error(response, what)

    def _retry_or_fail(self, failures: int, what: str, problem: str) -> int:
        if failures >= self.retries:
            raise GitHubError(f"{what}: {problem}, {failures + 1} times; GitHub at {self.api_url} is unavailable, "
                              "run again later")
        delay = min(self.backoff * (2 ** failures), self.max_wait)
        self.say(f"{what}: {problem}; retrying in {delay:g} s ({failures + 1} of {self.retries} retries)")
        self.sleep(delay)
        return failures + 1

    def _rate_limited(self, response: requests.Response, what: str) -> bool:
        """Wait out a rate-limit answer and return True, or False when the 403 is no rate limit."""
        headers = response.headers
        retry_after = headers.get("Retry-After", "")
        if retry_after.isdigit():
            wait, why = float(retry_after), f"Retry-After: {retry_after}"
        elif headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset", "").isdigit():
            wait = max(0.0, float(headers["X-RateLimit-Reset"]) - self.clock()) + 1.0
            why = "X-RateLimit-Reset"
        else:
            return response.status_code == 429 and self._pause(60.0, what, "429 without a reset time")
        return self._pause(wait, what, why)

    def _pause(self, wait: float, what: str, why: str) -> bool:
        until = datetime.fromtimestamp(self.clock() + wait, UTC).strftime("%H:%M:%S UTC")
        if wait > self.max_wait:
            raise GitHubError(f"{what}: GitHub's rate limit resets in {wait:.0f} s (at {until}, {why}), longer than "
                              f"the {self.max_wait:g} s allowed; set GITHUB_TOKEN for a higher limit, raise "
                              "--max-wait, or run again later")
        with self._lock:
            resume = self.clock() + wait
            extended = resume > self._resume_at
            self._resume_at = max(self._resume_at, resume)
        if extended:
            self.say(f"GitHub rate limit reached ({what}); waiting {wait:.0f} s until {until} ({why})")
        return True

    def _wait_if_paused(self) -> None:
        with self._lock:
            left = self._resume_at - self.clock()
        if left > 0:
            self.sleep(left)

    def _decode(self, response: requests.Response, what: str) -> Any:
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise GitHubError(f"{what}: answer larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"{what}: GitHub's answer is not JSON") from None

    def _error(self, response: requests.Response, what: str) -> GitHubError:
        status = response.status_code
        detail = _message_of(response)
        if status == 401:
            return GitHubError(f"{what}: GitHub rejected the credentials (401{detail}); GITHUB_TOKEN is invalid "
                               "or expired: set a valid token, or unset it for public repositories")
        if status == 403:
            return GitHubError(f"{what}: GitHub refused access (403{detail}); the token needs read access to the "
                               "repository's pull requests")
        if status in (404, 422):
            return GitHubNotFound(f"{what}: not found ({status}{detail})")
        return GitHubError(f"{what}: GitHub answered {status}{detail}")


def _message_of(response: requests.Response) -> str:
    """`: message` from GitHub's JSON error body, shortened to one line."""
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        return ""
    text = " ".join(str(message).split())[:160]
    return f": {text}" if text else ""
