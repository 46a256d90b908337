"""The `bundle` and `sign` commands end to end (real processes, openssl verifies the signatures)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from crio_release.publish.sign import sign_revision
from helpers.bundles import EPOCH, REV, make_embedded_bundles, write_spec

from crio.artifacts import (
    manifest_name,
    manifest_signature_name,
    sbom_signature_name,
    signature_name,
    tarball_name,
)
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest
from crio.signing import generate_keypair, verify_file


def crio_release(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crio_release.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_bundle_command_json_and_plain_output(tmp_path: Path) -> None:
    out = crio_release("bundle", "--rev", str(REV), "--arch", "x86_64", "--out", str(tmp_path / "o"),
                       "--source-date-epoch", str(EPOCH), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["architectures"] == ["amd64"] and data["revision"] == str(REV)
    names = [f["name"] for f in data["files"]]
    assert names[0] == tarball_name("amd64", REV) and names[-1] == manifest_name(REV)
    again = crio_release("bundle", "--rev", str(REV), "--arch", "amd64", "--out", str(tmp_path / "p"),
                         env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert again.returncode == 0, again.stderr
    first_line = again.stdout.splitlines()[0].split()
    assert first_line[0].endswith(tarball_name("amd64", REV))
    assert first_line[-1] == data["files"][0]["sha256"]          # env epoch == option epoch: same bytes
    assert "amd64: " in again.stderr                             # plain progress lines off a terminal


def test_bundle_command_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    bad = write_spec(tmp_path / "bad.toml", "[[component]]\nname = 'x'\nversion = \n")
    out = crio_release("bundle", "--rev", str(REV), "--spec", str(bad), "--out", str(tmp_path / "o"),
                       "--source-date-epoch", "1")
    assert out.returncode == ExitCode.SPEC
    assert len(out.stderr.strip().splitlines()) == 1 and "(at line 4, column 11)" in out.stderr  # schema = 1 is line 1
    unknown = crio_release("bundle", "--rev", "f" * 40, "--out", str(tmp_path / "o"))
    assert unknown.returncode == ExitCode.USAGE
    assert "pass --source-date-epoch N or set SOURCE_DATE_EPOCH" in unknown.stderr
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


@pytest.fixture
def signed_set(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    private, public = generate_keypair()
    out = tmp_path / "dist"
    make_embedded_bundles(out, REV)
    return out, private, public


def test_sign_writes_openssl_verifiable_signatures(signed_set: tuple[Path, bytes, bytes], tmp_path: Path) -> None:
    out, private, public = signed_set
    key = tmp_path / "key.pem"
    key.write_bytes(private)
    result = crio_release("sign", "--rev", str(REV), str(out), env={"CRIO_SIGNING_KEY": str(key)})
    assert result.returncode == 0, result.stderr
    (tmp_path / "pub.pem").write_bytes(public)
    for arch in ("amd64", "arm64"):
        for signed, sig in ((tarball_name(arch, REV), signature_name(arch, REV)),
                            (tarball_name(arch, REV) + ".spdx", sbom_signature_name(arch, REV))):
            der = tmp_path / "sig.der"
            der.write_bytes(base64.b64decode((out / sig).read_bytes()))
            check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"),
                                    "-signature", str(der), str(out / signed)], capture_output=True, text=True)
            assert check.returncode == 0 and "Verified OK" in check.stdout
    manifest = RevisionManifest.from_json((out / manifest_name(REV)).read_text())
    assert {e.role for e in manifest.files} == {"tarball", "checksum", "sbom", "signature", "sbom_signature"}
    verify_file(out / manifest_name(REV), (out / manifest_signature_name(REV)).read_bytes(), public)


def test_sign_refuses_a_file_changed_after_the_build(signed_set: tuple[Path, bytes, bytes]) -> None:
    out, private, _ = signed_set
    (out / tarball_name("arm64", REV)).write_bytes(b"swapped")
    with pytest.raises(CrioError, match=r"refusing to sign cri-o\.arm64\..*: its sha256 .* differs") as err:
        sign_revision(out, REV, private)
    assert err.value.exit_code == ExitCode.VERIFY_FAILED
    assert not list(out.glob("*.sig"))


def test_sign_without_key_or_with_a_bad_key_never_prints_it(signed_set: tuple[Path, bytes, bytes],
                                                             tmp_path: Path) -> None:
    out, _, _ = signed_set
    missing = crio_release("sign", "--rev", str(REV), str(out))
    assert missing.returncode == ExitCode.USAGE
    assert "no signing key: pass --key FILE.pem or set CRIO_SIGNING_KEY" in missing.stderr
    secret = tmp_path / "bad.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n")
    bad = crio_release("sign", "--key", str(secret), "--rev", str(REV), str(out))
    assert bad.returncode == ExitCode.USAGE
    assert "TOPSECRETMATERIAL" not in bad.stdout + bad.stderr
    assert not list(out.glob("*.sig"))
