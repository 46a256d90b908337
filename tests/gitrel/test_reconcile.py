"""reconcile: every version tag's set checked in a real bucket (file:// and the GCS emulator), rebuilt with --apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.publish.storage import open_bucket
from crio_release.publish.verify import verify_revision
from crio_release.workflows.reconcile import missing_files
from helpers.gitrel import commit_file, configure, crio_release, git, tree_digest

from crio.errors import ExitCode
from crio.revision import parse_revision
from crio.signed_marker import verify_marker_signature
from crio.signing import generate_keypair


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    configure(repo)
    commit_file(repo, "crio/VERSION", "1.22.0\n", "1.22.0")
    git(repo, "tag", "-a", "-m", "v1.22.0", "v1.22.0")
    commit_file(repo, "crio/VERSION", "1.22.1\n", "1.22.1")
    git(repo, "tag", "v1.22.1")
    git(repo, "tag", "not-a-release")
    return repo


@pytest.fixture
def bucket(tmp_path: Path) -> str:
    (tmp_path / "bucket").mkdir()
    return (tmp_path / "bucket").as_uri()


def reconcile(repo: Path, bucket_url: str, *extra: str) -> tuple[int, str, str]:
    res = crio_release("reconcile", "--repo", str(repo), "--bucket", bucket_url, *extra)
    return res.code, res.out, res.err


def test_reconcile_lists_missing_then_applies(tagged: Path, bucket: str, tmp_path: Path) -> None:
    before = tree_digest(tagged, tmp_path / "bucket")
    code, out, err = reconcile(tagged, bucket)
    assert code == ExitCode.INCOMPLETE_SET, err
    assert "2 tag(s) incomplete" in err and "run with --apply" in err
    lines = out.splitlines()
    assert lines[0].startswith("v1.22.0: missing: artifacts/cri-o.v1.22.0.manifest.json is missing")
    assert "artifacts/cri-o.amd64.v1.22.1.tar.gz.spdx is missing" in lines[1]
    code, out, _err = reconcile(tagged, bucket, "--apply", "--dry-run")
    assert code == ExitCode.INCOMPLETE_SET and out.count("would rebuild") == 2
    assert tree_digest(tagged, tmp_path / "bucket") == before  # checking writes nothing anywhere

    code, out, err = reconcile(tagged, bucket, "--apply")
    assert code == 0, err
    assert "git worktree add --quiet --detach" in out
    assert "v1.22.0: rebuilt and published 7 file(s)" in out  # per arch tarball, checksum, SBOM; the manifest
    assert git(tagged, "worktree", "list").count("\n") == 0  # the temporary worktree is gone
    for tag in ("v1.22.0", "v1.22.1"):
        assert verify_revision(bucket, parse_revision(tag), archs=["amd64", "arm64"]) == []
    code, out, _err = reconcile(tagged, bucket)
    assert code == 0 and out.splitlines() == ["v1.22.0: complete", "v1.22.1: complete"]


def test_reconcile_rebuilds_a_lost_file_byte_identically(tagged: Path, bucket: str, tmp_path: Path) -> None:
    git(tagged, "tag", "-d", "v1.22.0")  # one tag is enough here; each build costs a second
    assert reconcile(tagged, bucket, "--apply")[0] == 0
    lost = tmp_path / "bucket/artifacts/cri-o.amd64.v1.22.1.tar.gz"
    original = lost.read_bytes()
    lost.unlink()
    for meta in (tmp_path / "bucket").rglob("cri-o.amd64.v1.22.1.tar.gz.json"):
        meta.unlink()
    storage = open_bucket(bucket)
    revision = parse_revision("v1.22.1")
    assert "artifacts/cri-o.amd64.v1.22.1.tar.gz is missing" in missing_files(storage, revision, ["amd64", "arm64"])
    code, out, err = reconcile(tagged, bucket, "--apply")
    assert code == 0, err
    assert out.splitlines()[-1] == "v1.22.1: rebuilt and published 1 file(s)"
    assert lost.read_bytes() == original  # same tag commit date -> same bytes; the rest was kept


def test_reconcile_against_the_gcs_emulator(tagged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.gcs import gcp_storage_server

    git(tagged, "tag", "-d", "v1.22.0")
    with gcp_storage_server() as emu:
        emu.create_bucket("cri-o")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.url)
        code, out, _err = reconcile(tagged, "gs://cri-o")
        assert code == ExitCode.INCOMPLETE_SET and out.count(": missing:") == 1
        code, out, err = reconcile(tagged, "gs://cri-o", "--apply")
        assert code == 0, err
        assert reconcile(tagged, "gs://cri-o")[0] == 0


def test_reconcile_signs_rebuilt_sets_with_key(tagged: Path, bucket: str, tmp_path: Path) -> None:
    private, public = generate_keypair()
    key = tmp_path / "key.pem"
    key.write_bytes(private)
    code, out, err = reconcile(tagged, bucket, "--apply", "--key", str(key), "--since", "v1.22.1")
    assert code == 0, err
    assert "# sign v1.22.1" in out
    assert (tmp_path / "bucket/artifacts/cri-o.arm64.v1.22.1.tar.gz.sig").is_file()
    assert verify_revision(bucket, parse_revision("v1.22.1"), key=public) == []
    marker = (tmp_path / "bucket/latest-1.22.txt.sig").read_bytes()   # the marker it moved is signed too
    assert verify_marker_signature(marker, public, "latest-1.22.txt", "v1.22.1", None).revision == "v1.22.1"
    _other_private, other_public = generate_keypair()
    assert verify_revision(bucket, parse_revision("v1.22.1"), key=other_public) != []


def test_reconcile_since_skips_older_tags(tagged: Path, bucket: str) -> None:
    code, out, _err = reconcile(tagged, bucket, "--since", "v1.22.1")
    assert code == ExitCode.INCOMPLETE_SET and out.startswith("v1.22.1: missing") and "v1.22.0" not in out
    code, _out, err = reconcile(tagged, bucket, "--since", "1.22")
    assert code == ExitCode.USAGE and "invalid version '1.22'" in err


def test_reconcile_bad_inputs(tagged: Path, tmp_path: Path) -> None:
    code, _out, err = reconcile(tagged, "ftp://x")
    assert code == ExitCode.BUCKET_URL and "unknown bucket URL scheme" in err
    code, _out, err = reconcile(tagged, (tmp_path / "nope").as_uri())
    assert code == ExitCode.BUCKET_URL and "does not exist" in err
    (tmp_path / "b").mkdir()
    code, _out, err = reconcile(tagged, (tmp_path / "b").as_uri(), "--apply", "--spec", "missing.toml")
    assert code == ExitCode.SPEC and "v1.22.0 has no spec file missing.toml" in err
    assert git(tagged, "worktree", "list").count("\n") == 0
