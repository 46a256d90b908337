"""manifest.json verification before anything is written; options, exit codes, root; shellcheck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers.bundle_install import (
    BUNDLE_FILES,
    install_env,
    make_bundle_tree,
    run_install,
    snapshot,
    write_manifest,
)

from crio.errors import ExitCode


@pytest.mark.parametrize("tool", ["sha256sum", "shasum", "openssl"])
def test_tampered_file_is_refused_with_nothing_written(bundle: Path, destdir: Path, env: dict[str, str],
                                                       tool: str) -> None:
    (bundle / "etc/crictl.yaml").write_text("runtime-endpoint: unix:///evil.sock\n")
    out = run_install(bundle / "install", env={**env, "CRIO_INSTALL_HASH_TOOL": tool})
    assert out.returncode == ExitCode.VERIFICATION == 6
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("install: error: etc/crictl.yaml does not match manifest.json")
    assert snapshot(destdir) == {}


def test_tampered_binary_is_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "bin/crio-status").write_bytes(b"#!/bin/sh\nrm -rf /\n")
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 6
    assert "bin/crio-status does not match manifest.json" in out.stderr
    assert snapshot(destdir) == {}


def test_file_not_in_manifest_is_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "bin/smuggled").write_bytes(b"#!/bin/sh\n")
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 6
    assert out.stderr.strip() == "install: error: bin/smuggled is not listed in manifest.json: refusing to install"
    assert snapshot(destdir) == {}


def test_file_missing_from_bundle_is_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "man/crio-status.8").unlink()
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 6
    assert "man/crio-status.8 is listed in manifest.json but missing" in out.stderr
    assert snapshot(destdir) == {}


def test_manifest_without_file_list_is_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "manifest.json").write_text(json.dumps({"components": []}))
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 6
    assert 'manifest.json has no "files" list' in out.stderr
    assert snapshot(destdir) == {}


def test_compact_manifest_with_top_prefix_is_read(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    for entry in data["files"]:
        entry["path"] = "cri-o/" + entry["path"]
    (bundle / "manifest.json").write_text(json.dumps(data, separators=(",", ":")))
    assert run_install(bundle / "install", env=env).returncode == 0
    (bundle / "contrib/policy.json").write_text("{}")
    assert run_install(bundle / "install", env=env).returncode == 6


def test_bundle_without_manifest_installs_with_a_warning(tmp_path: Path, destdir: Path, env: dict[str, str]) -> None:
    bundle = make_bundle_tree(tmp_path / "nm", manifest=False)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 0
    assert "no manifest.json" in out.stderr


def test_symlink_in_bundle_is_refused(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (bundle / "bin/crio-status").unlink()
    (bundle / "bin/crio-status").symlink_to("/bin/sh")
    write_manifest(bundle)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 6
    assert snapshot(destdir) == {}


@pytest.mark.parametrize(("args", "fragment"), [
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["-x"], "unknown option '-x'"),
    (["PREFIX=/opt"], "unexpected argument 'PREFIX=/opt'"),
])
def test_usage_errors_exit_2_with_one_line(bundle: Path, destdir: Path, env: dict[str, str], args: list[str],
                                           fragment: str) -> None:
    out = run_install(bundle / "install", *args, env=env)
    assert out.returncode == ExitCode.USAGE == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("install: error: ")
    assert snapshot(destdir) == {}


def test_relative_path_variable_is_a_usage_error(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    out = run_install(bundle / "install", env={**env, "PREFIX": "usr/local"})
    assert out.returncode == 2
    assert out.stderr.strip() == ("install: error: PREFIX='usr/local' is not accepted (not absolute): use an "
                                  "absolute path such as /usr/local: no '.', '..', empty component or trailing "
                                  "'/', only letters, digits and . _ + , : = ~ & -")
    assert snapshot(destdir) == {}


def test_help_exits_0_and_documents_exit_codes(bundle: Path, env: dict[str, str]) -> None:
    for flag in ("--help", "-h"):
        out = run_install(bundle / "install", flag, env=env)
        assert out.returncode == 0
        assert "Usage: ./install" in out.stdout
    text = out.stdout
    for code in (ExitCode.USAGE, ExitCode.VERIFICATION, ExitCode.INSTALL, ExitCode.MISSING_TOOL, ExitCode.NOT_ROOT):
        assert f"{int(code)} " in text.split("Exit codes:")[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_refuses_without_root_when_no_destdir(os_release: Path) -> None:
    # A world-readable copy (pytest's tmp dirs are private to root), run as nobody.
    work = Path(tempfile.mkdtemp(prefix="crio-install-nonroot-"))
    try:
        work.chmod(0o755)
        bundle = make_bundle_tree(work)
        for path in [work, *work.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        osr = work / "os-release"
        shutil.copy(os_release, osr)
        osr.chmod(0o644)
        env = install_env(osr, STATEDIR=str(work / "state"), PREFIX=str(work / "prefix"))
        out = run_install(bundle / "install", env=env,
                          runner=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
        assert out.returncode == ExitCode.NOT_ROOT == 9
        assert out.stderr.strip() == ("install: error: must run as root to install into / "
                                      "(or set DESTDIR=DIR to stage into a directory)")
        assert not (work / "state").exists() and not (work / "prefix").exists()
        # --list needs no root.
        listed = run_install(bundle / "install", "--list", env=env,
                             runner=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
        assert listed.returncode == 0, listed.stderr
        assert f"{work}/prefix/bin/crio-status" in listed.stdout.splitlines()
    finally:
        shutil.rmtree(work)


def test_shell_files_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(__file__).parents[2] / ".venv/bin/shellcheck")
    for name, shell in (("install", "bash"), ("completions/bash/crio-status", "bash")):
        out = subprocess.run([shellcheck, "-s", shell, str(BUNDLE_FILES / name)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout
