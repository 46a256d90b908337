"""On-disk cache of GitHub answers for release notes, keyed by API host, repository and pull request or commit.

A merged pull request's number, author and merge commit never change, and
the commit -> pull request association of a merged commit neither, so
entries are kept without revalidation: a second `notes` run over the same
range makes no request at all. A description edited after the merge is
picked up with `--refresh`, which refetches and rewrites every entry used.

Files are JSON, written atomically (temporary file + rename, mode 0600). An
entry that does not parse or has the wrong shape is ignored and refetched:
the cache directory is not trusted more than the network.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Environment variable that moves the cache (default $XDG_CACHE_HOME/crio-release or ~/.cache/crio-release).
CACHE_ENV = "CRIO_RELEASE_CACHE"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def default_cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crio-release"


def _safe(part: str) -> str:
    cleaned = _UNSAFE.sub("_", part)
    return cleaned if cleaned.strip(".") else "_"


class ResponseCache:
    """Entries under ROOT/github/<api host>/<owner>/<name>/; ROOT None disables the cache."""

    def __init__(self, root: Path | None, api_url: str, repository: str) -> None:
        self.enabled = root is not None
        owner, _, name = repository.partition("/")
        host = urlsplit(api_url).netloc + urlsplit(api_url).path
        self.dir = (root or Path()) / "github" / _safe(host) / _safe(owner) / _safe(name)

    def _path(self, kind: str, key: str) -> Path:
        return self.dir / f"{kind}-{_safe(key)}.json"

    def get(self, kind: str, key: str) -> Any:
        """The stored value, or None when absent, unreadable or not JSON."""
        if not self.enabled:
            return None
        try:
            return json.loads(self._path(kind, key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store VALUE atomically; a cache that cannot be written only costs requests next time."""
        if not self.enabled:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.dir)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(value, handle, sort_keys=True)
            os.replace(tmp, self._path(kind, key))
        except OSError:
            return
