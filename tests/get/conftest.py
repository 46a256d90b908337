"""Buckets for the installer tests: real bundles from the bundle builder, published by crio-release publish.

Built once per session (about 3 s); each test copies the bucket it changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision
from helpers.bundles import make_embedded_bundles

from crio.revision import parse_revision
from crio.signing import generate_keypair

TAG = "v1.21.0"
SHA = "0123456789abcdef0123456789abcdef01234567"
ARCHS = ("amd64", "arm64")


@dataclass(frozen=True)
class Published:
    plain: Path          # bucket dir: TAG and SHA, unsigned; markers latest-1.21.txt and latest-main.txt
    signed: Path         # bucket dir: TAG signed by crio-release sign; marker latest-1.21.txt and its signature
    build: Path          # builder output of TAG (tarball + side files), unsigned
    public_key: Path
    other_public_key: Path


def _publish(bucket: Path, build: Path, revision: str, branch: str | None, key: bytes | None = None) -> None:
    bucket.mkdir(parents=True, exist_ok=True)
    publish_revision(bucket.as_uri(), parse_revision(revision), build, branch=branch, signing_key=key)


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    root = tmp_path_factory.mktemp("published")
    private, public = generate_keypair()
    _other_private, other_public = generate_keypair()
    (root / "key.pub").write_bytes(public)
    (root / "other.pub").write_bytes(other_public)

    build_tag = root / "build-tag"
    make_embedded_bundles(build_tag, TAG, ARCHS)
    build_sha = root / "build-sha"
    make_embedded_bundles(build_sha, SHA, ARCHS)
    _publish(root / "plain", build_tag, TAG, None)
    _publish(root / "plain", build_sha, SHA, "main")

    build_signed = root / "build-signed"
    shutil.copytree(build_tag, build_signed)
    sign_revision(build_signed, parse_revision(TAG), private)   # what `crio-release sign` writes
    _publish(root / "signed", build_signed, TAG, None, private)
    return Published(root / "plain", root / "signed", build_tag, root / "key.pub", root / "other.pub")
