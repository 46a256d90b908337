"""No silent downgrade: what the install record says is installed, and whether a new revision is older.

The installers pass the in-bundle install script `--record-meta KEY=VALUE` pairs, which it writes as
metadata lines at the head of the record (crio.record):

    #revision           v1.22.3           the installed revision
    #arch               amd64
    #channel            latest-1.22.txt   the marker it was resolved from; `-t` (named) or `-f` (local file)
    #build-time         1767225600        the revision's build time, from its revision manifest
    #marker-published   1767229200        publication time of the signed marker statement it came from

`installed_state` reads them back by one rule, copied in scripts/get (`--contract installed_state`):
the first 64 KiB of the record, complete lines up to the first one that is not a `#` line,
`#KEY<TAB>VALUE` with the first line of a key winning; a value that is not what its key holds
(a revision as crio.revision spells it, a channel, digits below 10**15) counts as absent.

`revision_order` says how a new revision stands against the installed one: tags by semantic
version, anything else (commits, or a tag against a commit) by build time; `unknown` when that
cannot be told (a build time missing, or equal for two different revisions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crio.errors import CrioError
from crio.revision import parse_revision

META_REVISION = "revision"
META_ARCH = "arch"
META_CHANNEL = "channel"
META_BUILD_TIME = "build-time"
META_MARKER_PUBLISHED = "marker-published"
#: Channel values for revisions not resolved from a marker.
CHANNEL_NAMED = "-t"
CHANNEL_LOCAL_FILE = "-f"
#: How much of the record is read for its metadata lines (they come first).
META_HEAD_BYTES = 65536

_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_TIME_RE = re.compile(r"^(0|[1-9][0-9]{0,14})$")
_CHANNEL_RE = re.compile(r"^(latest-[A-Za-z0-9._-]+\.txt|-t|-f)$")


@dataclass(frozen=True)
class InstalledState:
    revision: str | None = None
    build_time: int | None = None
    channel: str | None = None
    marker_published: int | None = None

    def contract_text(self) -> str:
        return " ".join("-" if v is None else str(v)
                        for v in (self.revision, self.build_time, self.channel, self.marker_published))


def _revision(value: str | None) -> str | None:
    if value is None or not value.isascii():
        return None
    try:
        return value if str(parse_revision(value)) == value else None
    except CrioError:
        return None


def _time(value: str | None) -> int | None:
    return int(value) if value is not None and _TIME_RE.match(value) else None


def read_meta_head(data: bytes) -> dict[str, str]:
    """The metadata lines at the head of a record (first META_HEAD_BYTES bytes; complete lines only)."""
    meta: dict[str, str] = {}
    for raw in data[:META_HEAD_BYTES].split(b"\n")[:-1]:
        if not raw.startswith(b"#"):
            break
        key, tab, value = raw[1:].decode("latin-1").partition("\t")
        if tab and _KEY_RE.match(key):
            meta.setdefault(key, value)
    return meta


def installed_state(data: bytes | None) -> InstalledState:
    """What the record's metadata says is installed (all None without a record or metadata)."""
    meta = read_meta_head(data or b"")
    channel = meta.get(META_CHANNEL)
    return InstalledState(_revision(meta.get(META_REVISION)), _time(meta.get(META_BUILD_TIME)),
                          channel if channel is not None and _CHANNEL_RE.match(channel) else None,
                          _time(meta.get(META_MARKER_PUBLISHED)))


def revision_order(installed: str | None, installed_time: int | None, new: str, new_time: int | None) -> str:
    """`none` (nothing recorded), `same`, `older`, `newer` or `unknown`: `new` against the installed one."""
    if installed is None:
        return "none"
    if installed == new:
        return "same"
    old_rev, new_rev = parse_revision(installed), parse_revision(new)
    if old_rev.version is not None and new_rev.version is not None:
        return "older" if new_rev.version < old_rev.version else "newer"
    if installed_time is None or new_time is None or installed_time == new_time:
        return "unknown"
    return "older" if new_time < installed_time else "newer"
