"""Reading a marker (`latest-*.txt`): one rule for every reader.

scripts/get and crio-get read a marker to choose what to install; the
publisher reads one before moving it forward. All three read it by
`read_marker`; scripts/get's bash copy is held to it by
tests/get/test_get_contract.py. A marker is trusted only if it reads as one
revision: an empty file, an HTML error page or anything else fails here,
never as a 404 later.
"""

from __future__ import annotations

from crio.artifacts import BUNDLE_MARKER_PREFIX, MAIN_MARKER, bundle_marker_tag
from crio.errors import CrioError, ExitCode
from crio.revision import ACCEPTED_REVISIONS, Revision, parse_revision

#: A marker longer than this is not a revision (an error page, most likely).
MAX_MARKER_BYTES = 4096
#: What bash's [[:space:]] trims in the C locale; str.strip() would trim more.
_SPACE = " \t\n\v\f\r"


class MarkerError(CrioError):
    """The marker does not name a revision it may name (installers: exit 4)."""

    exit_code = ExitCode.RESOLUTION


def tag_series_of(name: str) -> str | None:
    """`1.21` for the tag marker latest-1.21.txt; None for latest-main.txt, latest-release-*.txt and
    upstream's latest-bundle-*.txt (a bundle tag marker names its own tag: `bundle_marker_tag`)."""
    if name == MAIN_MARKER or name.startswith(("latest-release-", BUNDLE_MARKER_PREFIX)):
        return None
    return name.removeprefix("latest-").removesuffix(".txt")


def read_marker(data: bytes, name: str) -> Revision:
    """The revision marker `name` holds: at most 4 KiB, NULs and surrounding blanks ignored.

    A tag marker (latest-X.Y.txt) must name a tag of X.Y, and upstream's latest-bundle-vX.Y.Z.txt that
    very tag; the main and release-branch markers (ours and upstream's latest-bundle-*) may name any
    revision (they name commits, which only git can place).
    """
    if len(data) > MAX_MARKER_BYTES:
        raise MarkerError(f"marker {name} is not a revision (it is {len(data)} bytes long; "
                          f"expected {ACCEPTED_REVISIONS})")
    text = data.replace(b"\0", b"").decode("utf-8", "replace").strip(_SPACE)
    if not text:
        raise MarkerError(f"marker {name} is empty")
    if text.startswith("<"):
        raise MarkerError(f"marker {name} is an HTML page, not a revision")
    try:
        revision = parse_revision(text)
    except CrioError:
        raise MarkerError(f"marker {name} does not name a revision (got {text[:80]!r}; "
                          f"expected {ACCEPTED_REVISIONS})") from None
    series = tag_series_of(name)
    if series is not None and not str(revision).startswith(f"v{series}."):
        raise MarkerError(f"marker {name} names {revision}, which is not a tag of {series}")
    own_tag = bundle_marker_tag(name)
    if own_tag is not None and str(revision) != own_tag:
        raise MarkerError(f"marker {name} names {revision}, not the tag {own_tag} it is named after")
    return revision
