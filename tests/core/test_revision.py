"""Revisions and versions: what is accepted, what is refused and why, and how versions order."""

from __future__ import annotations

import itertools

import pytest

from crio.errors import ExitCode, InvalidRevision
from crio.revision import Revision, Version, parse_minor_series, parse_revision

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHA, SHA),
        (SHA.upper(), SHA),
        ("v1.21.0", "v1.21.0"),
        ("1.21.0", "v1.21.0"),
        ("v1.22.0-rc.1", "v1.22.0-rc.1"),
        ("v2.0.0", "v2.0.0"),
        ("v1.100.3", "v1.100.3"),
        ("v1.9.12-alpha.beta", "v1.9.12-alpha.beta"),
    ],
)
def test_accepted_revisions_keep_their_canonical_spelling(text: str, expected: str) -> None:
    assert str(parse_revision(text)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" v1.21.0", "whitespace"),
        ("v1.21.0\n", "whitespace"),
        ("v1.21 .0", "whitespace"),
        ("0123456", "short commit SHA"),
        ("0123456789abcdef0123456789abcdef0123456", "short commit SHA"),
        (SHA + "0", "exactly 40"),
        ("../etc/passwd", "path separator"),
        ("v1.21.0/../x", "path separator"),
        ("..", "path separator"),
        ("v1.21", "neither"),
        ("v01.21.0", "neither"),
        ("v1.21.0+build.5", "neither"),
        ("latest", "neither"),
        ("main", "neither"),
        ("V1.21.0", "neither"),
        ("g" * 40, "neither"),
        ("v1.21.0-", "neither"),
        ("v1.21.0-rc..1", "'..'"),
        ("v1.21.0-01", "neither"),
    ],
)
def test_rejected_revisions_say_why_and_what_is_accepted(text: str, reason: str) -> None:
    with pytest.raises(InvalidRevision) as info:
        parse_revision(text)
    message = info.value.message
    assert reason in message
    assert "40-character commit SHA" in message and "vMAJOR.MINOR.PATCH" in message
    assert "\n" not in message.replace(repr(text), "")
    assert info.value.exit_code == ExitCode.USAGE


def test_revision_kinds() -> None:
    assert parse_revision(SHA) == Revision(sha=SHA)
    tag = parse_revision("v1.22.3")
    assert tag.is_tag and tag.version == Version(1, 22, 3)
    assert not parse_revision(SHA).is_tag


@pytest.mark.parametrize(
    "ordered",
    [
        ["1.9.0", "1.10.0", "1.100.0", "2.0.0"],
        ["1.9.9", "1.9.10", "1.9.100"],
        ["1.22.0-alpha", "1.22.0-alpha.1", "1.22.0-alpha.beta", "1.22.0-beta", "1.22.0-beta.2",
         "1.22.0-beta.11", "1.22.0-rc.1", "1.22.0"],
        ["1.21.99", "1.22.0-rc.0", "1.22.0", "1.22.1"],
    ],
)
def test_versions_order_by_semantic_version_precedence(ordered: list[str]) -> None:
    versions = [Version.parse(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    for low, high in itertools.pairwise(versions):
        assert low < high and high > low and low != high


def test_version_helpers() -> None:
    version = Version.parse("v1.22.3")
    assert version.minor_series == "1.22" and version.tag == "v1.22.3"
    assert version.bump_patch() == Version(1, 22, 4)
    assert version.next_minor() == Version(1, 23, 0)
    assert Version.parse("1.22.0-rc.1").is_prerelease
    assert Version.parse("1.22.0") == Version.parse("v1.22.0")
    assert len({Version.parse("1.22.0"), Version.parse("v1.22.0")}) == 1


@pytest.mark.parametrize(("text", "expected"), [("v1.21", (1, 21)), ("1.9", (1, 9)), ("v1.100", (1, 100)),
                                                ("v1.21.0", None), ("1", None), ("v1.x", None), ("", None)])
def test_minor_series_shorthand(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_minor_series(text) == expected
