"""A signing publish signs upstream's `latest-bundle-*` markers like ours: the installers read them first."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from crio_release.publish.publish import publish_revision
from crio_release.publish.storage import open_bucket
from helpers.publish import bucket_state, make_revision_set

from crio.artifacts import marker_signature_name
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision
from crio.signed_marker import verify_marker_signature
from crio.signing import generate_keypair


def _commits(path: Path) -> list[str]:
    """Three commits on main, oldest first (publish orders branch commits by git ancestry)."""
    git = ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.invalid",
           "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(3):
        (path / "f").write_text(str(i))
        subprocess.run([*git, "add", "f"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"c{i}"], check=True)
    return subprocess.run([*git, "rev-list", "--reverse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.split()


def _statement(url: str, marker: str, revision: str, public: bytes) -> int:
    found = open_bucket(url).read(marker_signature_name(marker))
    assert found is not None, f"{marker} is not signed"
    return verify_marker_signature(found[0], public, marker, revision, None).published


def test_every_bundle_marker_a_publish_moves_is_signed(cas_bucket: str, tmp_path: Path) -> None:
    private, public = generate_keypair()
    a, b, _c = _commits(tmp_path / "repo")
    for sha, branch in ((b, "main"), (a, "release-1.22")):
        publish_revision(cas_bucket, parse_revision(sha), make_revision_set(tmp_path / sha, sha, private_key=private),
                         branch=branch, repo=tmp_path / "repo", signing_key=private)
    tag = parse_revision("v1.22.1")
    publish_revision(cas_bucket, tag, make_revision_set(tmp_path / "tag", tag, private_key=private),
                     signing_key=private)
    for marker, revision in (("latest-bundle-main.txt", b), ("latest-main.txt", b),
                             ("latest-bundle-release-1.22.txt", a), ("latest-release-1.22.txt", a),
                             ("latest-bundle-v1.22.1.txt", "v1.22.1"), ("latest-1.22.txt", "v1.22.1")):
        assert _statement(cas_bucket, marker, revision, public) > 0


def test_a_signed_bundle_marker_needs_the_key_for_its_next_move(file_bucket: str, tmp_path: Path) -> None:
    private, _ = generate_keypair()
    a, b, _c = _commits(tmp_path / "repo")
    publish_revision(file_bucket, parse_revision(a), make_revision_set(tmp_path / a, a), branch="main",
                     repo=tmp_path / "repo", signing_key=private)
    # only upstream's marker stays signed
    (Path(urlsplit(file_bucket).path) / marker_signature_name("latest-main.txt")).unlink()
    state = bucket_state(file_bucket)
    with pytest.raises(CrioError, match=r"latest-bundle-main\.txt is signed in the bucket") as info:
        publish_revision(file_bucket, parse_revision(b), make_revision_set(tmp_path / b, b), branch="main",
                         repo=tmp_path / "repo")
    assert info.value.exit_code == ExitCode.USAGE
    assert bucket_state(file_bucket) == state
