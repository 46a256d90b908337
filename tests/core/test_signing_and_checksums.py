"""Signatures verify with plain openssl (no cosign), checksums parse strictly, the revision manifest round-trips."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from crio.artifacts import arch_files, manifest_name
from crio.checksums import format_sha256sum, parse_sha256sum, sha256_file
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest, build_revision_manifest, write_revision_manifest
from crio.revision import parse_revision
from crio.signing import generate_keypair, sign_file, verify_file


def test_signature_verifies_with_openssl_and_fails_when_tampered(tmp_path: Path) -> None:
    private, public = generate_keypair()
    blob = tmp_path / "cri-o.amd64.v1.21.0.tar.gz"
    blob.write_bytes(b"bundle bytes" * 1000)
    sig = sign_file(blob, private)
    (tmp_path / "key.pub").write_bytes(public)
    (tmp_path / "sig.der").write_bytes(base64.b64decode(sig))
    openssl = ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "key.pub"),
               "-signature", str(tmp_path / "sig.der"), str(blob)]
    assert subprocess.run(openssl, capture_output=True, text=True).stdout.strip() == "Verified OK"
    verify_file(blob, sig, public)
    blob.write_bytes(b"tampered")
    assert subprocess.run(openssl, capture_output=True).returncode != 0
    with pytest.raises(CrioError) as info:
        verify_file(blob, sig, public)
    assert info.value.exit_code == ExitCode.VERIFICATION


def test_signature_from_another_key_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "f"
    blob.write_bytes(b"x")
    sig = sign_file(blob, generate_keypair()[0])
    with pytest.raises(CrioError, match="does not verify"):
        verify_file(blob, sig, generate_keypair()[1])
    with pytest.raises(CrioError, match="not base64"):
        verify_file(blob, b"!!notbase64!!", generate_keypair()[1])


def test_sha256sum_format_matches_coreutils(tmp_path: Path) -> None:
    blob = tmp_path / "a.tar.gz"
    blob.write_bytes(b"abc")
    (tmp_path / "a.tar.gz.sha256sum").write_text(format_sha256sum(sha256_file(blob), blob.name))
    check = subprocess.run(["sha256sum", "-c", "a.tar.gz.sha256sum"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0 and "OK" in check.stdout
    assert parse_sha256sum((tmp_path / "a.tar.gz.sha256sum").read_text(), "a.tar.gz") == sha256_file(blob)


@pytest.mark.parametrize(("text", "problem"), [
    ("", "exactly one line"),
    ("<html>404</html>", "sha256sum format"),
    ("0" * 64 + "  b.tar.gz\n", "expected 'a.tar.gz'"),
    ("0" * 64 + "  a.tar.gz\n" + "1" * 64 + "  a.tar.gz\n", "exactly one line"),
    ("0" * 63 + "  a.tar.gz\n", "sha256sum format"),
    ("0" * 64 + "  ../a.tar.gz\n", "sha256sum format"),
])
def test_malformed_checksum_files_are_verification_errors(text: str, problem: str) -> None:
    with pytest.raises(CrioError) as info:
        parse_sha256sum(text, "a.tar.gz")
    assert problem in info.value.message and info.value.exit_code == ExitCode.VERIFICATION


def test_revision_manifest_lists_every_file_and_needs_the_required_ones(tmp_path: Path) -> None:
    rev = parse_revision("v1.22.1")
    for arch in ("amd64", "arm64"):
        for role, name in arch_files(arch, rev).items():
            if role != "sbom_signature":
                (tmp_path / name).write_text(f"{arch} {role}")
    manifest = build_revision_manifest(tmp_path, rev, ["amd64", "arm64"], "1.22.1")
    assert len(manifest.files) == 2 * (len(arch_files("amd64", rev)) - 1)  # every role but the one left out
    path = write_revision_manifest(tmp_path, manifest)
    assert path.name == manifest_name(rev)
    again = RevisionManifest.from_json(path.read_text())
    assert again.by_name() == manifest.by_name()
    (tmp_path / arch_files("arm64", rev)["sbom"]).unlink()
    with pytest.raises(CrioError) as info:
        build_revision_manifest(tmp_path, rev, ["amd64", "arm64"], "1.22.1")
    assert info.value.exit_code == ExitCode.INCOMPLETE_SET and ".spdx is missing" in info.value.message
    with pytest.raises(CrioError, match="malformed"):
        RevisionManifest.from_json('{"schema": 1, "revision": "../x", "version": "1", "architectures": [], "files": []}')
