"""The three commands through crio-release's real entry point: messages, exit codes, nothing written on bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from crio_release.cli import cli
from helpers.gcs import unused_url
from helpers.publish import bucket_state, make_revision_set

from crio.artifacts import tarball_name
from crio.cli import run_main
from crio.errors import ExitCode
from crio.signing import generate_keypair


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        run_main(cli, list(argv))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


@pytest.fixture
def rev_set(tmp_path: Path) -> Path:
    return make_revision_set(tmp_path / "set", "v1.22.1")


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["--bucket", "s3://cri-o", "--rev", "v1.22.1"], ExitCode.BUCKET_URL, "unknown bucket URL scheme 's3'"),
    (["--bucket", "{bucket}", "--rev", "v1.22"], ExitCode.USAGE, "invalid revision 'v1.22'"),
    (["--bucket", "{bucket}", "--rev", "abc123"], ExitCode.USAGE, "short commit SHA"),
    (["--bucket", "{bucket}", "--rev", "v1.22.9"], ExitCode.INCOMPLETE_SET, "no files of revision v1.22.9"),
    (["--bucket", "{bucket}", "--rev", "v1.22.1", "--arch", "ppc64le"], ExitCode.INCOMPLETE_SET,
     "lacks part of revision v1.22.1 (ppc64le)"),
    (["--bucket", "{bucket}", "--rev", "v1.22.1", "--arch", "sparc"], ExitCode.UNSUPPORTED_ARCH,
     "unsupported architecture 'sparc'"),
    (["--bucket", "{bucket}", "--rev", "v1.22.1", "--branch", "dev"], ExitCode.USAGE, "use main or release-"),
])
def test_bad_input_on_publish(capsys, file_bucket: str, rev_set: Path, argv, code, needle) -> None:
    argv = [a.replace("{bucket}", file_bucket) for a in argv]
    before = bucket_state(file_bucket)
    status, out, err = run(capsys, "publish", *argv, str(rev_set))
    assert status == code, err
    assert needle in err and out == ""
    if code != ExitCode.USAGE:
        _one_line_error(err)
    assert bucket_state(file_bucket) == before


def test_directory_lacking_an_architecture(capsys, file_bucket: str, tmp_path: Path) -> None:
    directory = make_revision_set(tmp_path / "set", "v1.22.1")
    (directory / tarball_name("arm64", "v1.22.1")).unlink()
    status, _, err = run(capsys, "publish", "--bucket", file_bucket, "--rev", "v1.22.1", str(directory))
    assert status == ExitCode.INCOMPLETE_SET
    assert "lacks part of revision v1.22.1 (arm64)" in _one_line_error(err)
    assert bucket_state(file_bucket) == {}


def test_missing_credentials(capsys, monkeypatch, tmp_path: Path, rev_set: Path) -> None:
    monkeypatch.setenv("NO_GCE_CHECK", "true")          # never probe a metadata server
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    status, _, err = run(capsys, "publish", "--bucket", "gs://cri-o", "--rev", "v1.22.1", str(rev_set))
    assert status == ExitCode.CREDENTIALS
    assert "no Google Cloud credentials found for gs://cri-o" in _one_line_error(err)


def test_unreachable_emulator_fails_fast(capsys, monkeypatch, rev_set: Path) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", unused_url())
    started = time.monotonic()
    status, _, err = run(capsys, "publish", "--bucket", "gs://cri-o", "--rev", "v1.22.1", str(rev_set))
    assert status == ExitCode.STORAGE_UNREACHABLE
    assert "cannot reach storage at http://127.0.0.1:" in _one_line_error(err)
    print(f"unreachable reported after {time.monotonic() - started:.1f}s")  # a figure, not an assertion


def test_missing_bucket_on_emulator(capsys, fake_gcs_emulator, monkeypatch, rev_set: Path) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs_emulator.url)
    status, _, err = run(capsys, "publish", "--bucket", "gs://no-such-bucket", "--rev", "v1.22.1", str(rev_set))
    assert status == ExitCode.BUCKET_URL and "does not exist" in _one_line_error(err)


def test_publish_dry_run_verify_and_markers(capsys, fake_gcs_bucket: str, rev_set: Path, tmp_path: Path) -> None:
    status, out, _ = run(capsys, "publish", "--bucket", fake_gcs_bucket, "--rev", "v1.22.1", "--dry-run",
                         str(rev_set))
    assert status == 0 and "would upload artifacts/cri-o.amd64.v1.22.1.tar.gz" in out
    assert "would: marker latest-1.22.txt: absent -> v1.22.1 (newest tag of 1.22), if_generation_match=0" in out
    assert bucket_state(fake_gcs_bucket) == []
    status, out, _ = run(capsys, "publish", "--bucket", fake_gcs_bucket, "--rev", "v1.22.1", str(rev_set))
    assert status == 0 and "marker latest-1.22.txt: absent -> v1.22.1" in out and "7 uploaded" in out
    status, out, _ = run(capsys, "verify", "--bucket", fake_gcs_bucket, "--rev", "v1.22.1")
    assert status == 0 and "v1.22.1: verified" in out
    status, out, _ = run(capsys, "markers", "--bucket", fake_gcs_bucket, "--json")
    assert status == 0
    assert [(m["marker"], m["revision"], m["complete"]) for m in json.loads(out)] == [
        ("latest-1.22.txt", "v1.22.1", True), ("latest-bundle-v1.22.1.txt", "v1.22.1", True)]
    status, out, _ = run(capsys, "markers", "--bucket", fake_gcs_bucket)
    assert out == "latest-1.22.txt\tv1.22.1\tcomplete\nlatest-bundle-v1.22.1.txt\tv1.22.1\tcomplete\n"


def test_verify_failure_lists_problems(capsys, file_bucket: str, tmp_path: Path, monkeypatch) -> None:
    private, public = generate_keypair()
    directory = make_revision_set(tmp_path / "set", "v1.22.1", private_key=private)
    signing_key = tmp_path / "signing.pem"
    signing_key.write_bytes(private)
    # A signed set moves its marker only signed, with the key that signed the set.
    status, _, err = run(capsys, "publish", "--bucket", file_bucket, "--rev", "v1.22.1", str(directory))
    assert status == ExitCode.USAGE and "must be signed too; pass --key" in err
    status, out, _ = run(capsys, "publish", "--bucket", file_bucket, "--rev", "v1.22.1", "--key", str(signing_key),
                         str(directory))
    assert status == 0 and "signature latest-1.22.txt.sig: signed latest-1.22.txt -> v1.22.1" in out
    status, _, err = run(capsys, "verify", "--bucket", file_bucket, "--rev", "v1.22.1")
    assert status == ExitCode.VERIFY_FAILED
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 5 and all("cannot verify signature: no key" in p for p in problems)
    key = tmp_path / "pub.pem"
    key.write_bytes(public)
    monkeypatch.setenv("CRIO_VERIFY_KEY", str(key))
    assert run(capsys, "verify", "--bucket", file_bucket, "--rev", "v1.22.1")[0] == 0
    status, _, err = run(capsys, "verify", "--bucket", file_bucket, "--rev", "v1.22.2")
    assert status == ExitCode.VERIFY_FAILED and "cri-o.v1.22.2.manifest.json is missing" in err
