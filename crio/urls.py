"""The two URL rules both installers share: what a `file://` URL names, and how a URL is shown.

`file_url_path` — one reading of `file://` so that the file checked is the
file installed: `file://` then an empty host or `localhost`, then an absolute
path whose `%XX` escapes are decoded once (nothing else: a backslash is a
backslash). Anything else is refused rather than guessed at: another host,
`?` or `#` (write a literal one as %3F / %23), a bad or NUL escape, and
control characters (they cannot survive a shell's `$(...)` unchanged).

`redact_url` / `redact` — userinfo (`user:pass@`) and everything from the
first `?` or `#` on (presigned `X-Goog-Signature=…`, tokens) are shown as
`***` in every message, so logs never carry credentials.

scripts/get carries bash copies (`file_url_path`, `redact_url`), held to
these by tests/get/test_get_contract.py.
"""

from __future__ import annotations

import os
import re

from crio.errors import UsageError

FILE_SCHEME = "file://"
#: Hosts a file:// URL may name: none, or the local machine.
LOCAL_HOSTS = ("", "localhost")
MASK = "***"

_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def _refuse(url: str, why: str) -> UsageError:
    return UsageError(f"invalid file URL '{redact_url(url)}': {why}; accepted is file:///ABSOLUTE/PATH "
                      "(or file://localhost/...), with %XX escapes only")


def file_url_path(url: str) -> str:
    """The local path a `file://` URL names (bytes beyond UTF-8 kept as os.fsdecode keeps them)."""
    if not url.startswith(FILE_SCHEME):
        raise _refuse(url, "it does not start with file://")
    rest = url[len(FILE_SCHEME):]
    host, slash, path = rest.partition("/")
    if not slash:
        raise _refuse(url, "no path after the host")
    if host.lower() not in LOCAL_HOSTS:
        raise _refuse(url, f"host '{host}' is not the local machine")
    if "?" in path or "#" in path:
        raise _refuse(url, "'?' and '#' are not accepted (write %3F or %23 for a literal one)")
    out = bytearray()
    position = 0
    while (index := path.find("%", position)) >= 0:
        out += path[position:index].encode("utf-8", "surrogateescape")
        match = _ESCAPE_RE.match(path, index)
        if match is None:
            raise _refuse(url, "a '%' not followed by two hex digits")
        out.append(int(match[1], 16))
        position = index + 3
    out += path[position:].encode("utf-8", "surrogateescape")
    decoded = b"/" + bytes(out)
    if any(byte < 0x20 or byte == 0x7F for byte in decoded):
        raise _refuse(url, "NUL or another control character in the path")
    return os.fsdecode(decoded)


def redact_url(url: str) -> str:
    """`scheme://***@host/path?***`: userinfo and everything from the first `?` or `#` on hidden."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(rest)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    cuts = [i for i in (tail.find(c) for c in "?#") if i >= 0]
    if cuts:
        tail = tail[: min(cuts) + 1] + MASK
    return f"{scheme}://{authority}{tail}"


def redact(text: str, url: str | None = None) -> str:
    """`text` with every URL in it redacted; with `url`, also the raw secrets of that URL wherever they appear.

    The second form is for library messages that repeat parts of a URL without its scheme
    (`... with url: /x?X-Goog-Signature=...`).
    """
    if url is not None:
        for secret in _secrets_of(url):
            text = text.replace(secret, MASK)
    return _URL_IN_TEXT_RE.sub(lambda m: redact_url(m[0]), text)


def _secrets_of(url: str) -> list[str]:
    _scheme, sep, rest = url.partition("://")
    if not sep:
        return []
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(rest)
    authority, tail = rest[:end], rest[end:]
    found = [authority.rpartition("@")[0]] if "@" in authority else []
    cuts = [i for i in (tail.find(c) for c in "?#") if i >= 0]
    if cuts:
        found.append(tail[min(cuts) + 1:])
    return [s for s in found if len(s) >= 3]
