"""Revisions: a full commit SHA or a semantic-version tag, and how they order.

Versions are parsed into numbers and compared by semantic-version precedence
(https://semver.org/#spec-item-11), never sliced by character position, so
1.9 < 1.10 < 1.100 and 2.0 works; a pre-release sorts before its release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from crio.errors import InvalidRevision

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
VERSION_PATTERN = rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
_VERSION_RE = re.compile(rf"^{VERSION_PATTERN}$")
_TAG_RE = re.compile(rf"^v{VERSION_PATTERN}$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_MINOR_RE = re.compile(rf"^v?(?P<major>{_NUM})\.(?P<minor>{_NUM})$")

#: What a revision may look like, for every error message that rejects one.
ACCEPTED_REVISIONS = (
    "a full 40-character commit SHA, or a tag vMAJOR.MINOR.PATCH[-PRERELEASE] "
    "such as v1.21.0 or v1.22.0-rc.1 (1.21.0 is read as v1.21.0)"
)


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version MAJOR.MINOR.PATCH[-PRE] (no build metadata: it cannot order)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `1.2.3` or `v1.2.3[-pre]`; raise InvalidRevision otherwise."""
        body = text[1:] if text.startswith("v") else text
        match = _VERSION_RE.match(body)
        if not match:
            raise InvalidRevision(
                f"invalid version {text!r}: expected MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.22.0 or 1.22.0-rc.1"
            )
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), pre)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def minor_series(self) -> str:
        """`1.22` for 1.22.3: the release branch and marker suffix."""
        return f"{self.major}.{self.minor}"

    @property
    def tag(self) -> str:
        return f"v{self}"

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.prerelease)}" if self.prerelease else core

    def _key(self) -> tuple:
        # A release sorts after all of its pre-releases; numeric identifiers
        # sort numerically and before alphanumeric ones.
        pre_key: tuple = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre_key)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def bump_patch(self) -> Version:
        return Version(self.major, self.minor, self.patch + 1)

    def next_minor(self) -> Version:
        return Version(self.major, self.minor + 1, 0)


@dataclass(frozen=True)
class Revision:
    """What a bundle is built from: exactly one of a commit SHA or a tag version."""

    sha: str | None = None
    version: Version | None = None

    @property
    def is_tag(self) -> bool:
        return self.version is not None

    def __str__(self) -> str:
        """The spelling used in artifact names and markers: the SHA, or `vX.Y.Z`."""
        if self.version is not None:
            return self.version.tag
        assert self.sha is not None
        return self.sha


def parse_revision(text: str) -> Revision:
    """Parse a revision as users type it; anything not accepted raises with the accepted forms."""
    if not isinstance(text, str) or text == "":
        raise InvalidRevision(f"invalid revision {text!r}: the revision is empty; use {ACCEPTED_REVISIONS}")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidRevision(f"invalid revision {text!r}: it contains whitespace; use {ACCEPTED_REVISIONS}")
    lowered = text.lower()
    if _SHA_RE.match(lowered):
        return Revision(sha=lowered)
    candidate = text if text.startswith("v") else f"v{text}"
    if _TAG_RE.match(candidate):
        return Revision(version=Version.parse(candidate))
    if re.fullmatch(r"[0-9a-fA-F]{4,39}", text):
        reason = f"a short commit SHA ({len(text)} characters) is ambiguous"
    elif re.fullmatch(r"[0-9a-fA-F]{41,}", text):
        reason = f"a commit SHA has exactly 40 characters, not {len(text)}"
    elif "/" in text or ".." in text:
        reason = "it contains a path separator or '..'"
    else:
        reason = "it is neither a commit SHA nor a version tag"
    raise InvalidRevision(f"invalid revision {text!r}: {reason}; use {ACCEPTED_REVISIONS}")


def parse_minor_series(text: str) -> tuple[int, int] | None:
    """`v1.21` or `1.21` -> (1, 21), the shorthand `get -t v1.21` resolves via latest-1.21.txt."""
    match = _MINOR_RE.match(text)
    return (int(match["major"]), int(match["minor"])) if match else None
