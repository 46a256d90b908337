"""Which revision to install and where to read it from: the same rules as scripts/get.

Markers are read by crio.marker.read_marker, the rule every reader shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from crio.artifacts import (
    artifact_url,
    checksum_name,
    is_channel_request,
    public_base_url,
    request_markers,
    signature_name,
    tarball_name,
)
from crio.errors import CrioError, ExitCode
from crio.revision import ACCEPTED_REVISIONS, parse_revision
from crio.urls import file_url_path, redact_url


@dataclass(frozen=True)
class Plan:
    """Everything the installer fetches, decided before the first byte of the tarball."""

    arch: str
    revision: str
    source: str
    tarball_url: str
    checksum_url: str
    signature_url: str
    marker: str | None = None             # the marker the revision was read from (None: -t REV or -f)
    marker_published: int | None = None   # its signed statement's publication time, when verified

    @property
    def tarball_name(self) -> str:
        return tarball_name(self.arch, self.revision)


def base_url_for(bucket: str | None, url: str | None) -> str:
    """The mirror URL (-m) as given, or the public URL of the bucket (-b, default cri-o)."""
    if bucket and url:
        raise CrioError("-b and -m exclude each other", ExitCode.USAGE)
    if url:
        if not url.startswith(("http://", "https://", "file://")):
            raise CrioError(f"invalid URL '{redact_url(url)}': expected http://, https:// or file://",
                            ExitCode.USAGE)
        if url.startswith("file://"):
            file_url_path(url)   # another host, '?', '#', a bad escape: a usage error before anything is read
        return url
    return public_base_url(bucket) if bucket else public_base_url()


def marker_or_revision(request: str | None) -> tuple[tuple[str, str | None] | None, str | None]:
    """((marker, fallback), None) for no request, vMAJOR.MINOR or release-1.Y; (None, revision) for a tag
    or SHA; else a usage error. The fallback marker is read only when the first is absent."""
    if is_channel_request(request):
        return request_markers(request), None
    try:
        return None, str(parse_revision(request or ""))
    except CrioError:
        raise CrioError(
            f"invalid revision {request!r}: use {ACCEPTED_REVISIONS}, vMAJOR.MINOR for the newest tag of a minor, "
            "or release-MAJOR.MINOR for the newest commit of a release branch",
            ExitCode.USAGE,
        ) from None


def plan_for(base_url: str, arch: str, revision: str, source: str) -> Plan:
    return Plan(
        arch=arch,
        revision=revision,
        source=source,
        tarball_url=artifact_url(base_url, tarball_name(arch, revision)),
        checksum_url=artifact_url(base_url, checksum_name(arch, revision)),
        signature_url=artifact_url(base_url, signature_name(arch, revision)),
    )
