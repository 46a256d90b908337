"""Reading the marker a request names, with the fallback of crio.artifacts.request_markers (scripts/get: resolve_marker).

Upstream's `latest-bundle-*.txt` moves only once a bundle is uploaded; the fallback (our
`latest-main.txt` / `latest-release-1.Y.txt`) is read only when that marker is absent (404, or no
such file), and since upstream's CI moves it when binaries are uploaded, the bundle it names must
be published before anything else is done with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crio.artifacts import artifact_url, checksum_name, object_url
from crio.download import Fetcher, NotFound
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker


@dataclass(frozen=True)
class MarkerRead:
    """The marker that named the revision, where it was read, and whether it was the fallback."""

    marker: str
    url: str
    revision: str
    fell_back: bool


def read_channel(fetcher: Fetcher, base_url: str, markers: tuple[str, str | None],
                 log: Callable[[str], None]) -> MarkerRead:
    """Read the first marker, or (only when it is absent) the fallback; any other failure is exit 4."""
    first, fallback = markers
    url = object_url(base_url, first)
    try:
        return MarkerRead(first, url, _read(fetcher, url, first), False)
    except NotFound:
        if fallback is None:
            raise CrioError(f"marker {first} not found at {url}", ExitCode.RESOLUTION) from None
    fallback_url = object_url(base_url, fallback)
    log(f"marker {first} not found at {url}: reading {fallback}, whose bundle may not be published yet")
    try:
        return MarkerRead(fallback, fallback_url, _read(fetcher, fallback_url, fallback), True)
    except NotFound:
        raise CrioError(f"neither marker {first} nor {fallback} found at {base_url}", ExitCode.RESOLUTION) from None


def _read(fetcher: Fetcher, url: str, marker: str) -> str:
    """The revision `marker` names; NotFound passes through (the caller decides about the fallback)."""
    try:
        data = fetcher.read_small(url)
    except NotFound:
        raise
    except CrioError:
        raise CrioError(f"cannot read marker {marker} from {url}", ExitCode.RESOLUTION) from None
    return str(read_marker(data, marker))


def check_bundle_published(fetcher: Fetcher, base_url: str, read: MarkerRead, arch: str) -> None:
    """After a fallback: the named revision's `.sha256sum` for `arch` is there (else exit 4, nothing fetched)."""
    url = artifact_url(base_url, checksum_name(arch, read.revision))
    try:
        fetcher.read_small(url)
    except NotFound:
        raise CrioError(f"{read.marker} names {read.revision}, but its {arch} bundle is not published ({url} not "
                        "found): the marker moves before the bundle is uploaded; try again later, or name a "
                        "published revision with -t", ExitCode.RESOLUTION) from None
