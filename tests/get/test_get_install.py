"""Install-side behaviour of both installers: rollback, recovery after a kill, uninstall, curl | bash,
root check and the offline flow."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.get_fixtures import (
    CRIO_GET,
    GET_SCRIPT,
    INSTALLERS,
    SKIP_SIGNATURES,
    copy_bucket,
    lay_out_bucket,
    run_get,
    snapshot,
    write_bundle,
)

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR, object_path, tarball_name
from crio.errors import ExitCode

TAG = "v1.21.0"
STATE = INSTALL_STATE_DIR.lstrip("/")


@pytest.fixture(scope="module")
def fixture_bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Contract-shaped bundles: v1.0.0 and v1.0.3 install, v1.0.1 fails after two files, v1.0.2 is killed,
    v1.0.4 pauses for a second after two files."""
    root = tmp_path_factory.mktemp("fixture-bucket")
    build = root / "build"
    tarballs = [
        write_bundle(build, "amd64", "v1.0.0"),
        write_bundle(build, "amd64", "v1.0.1", fail_after=2),
        write_bundle(build, "amd64", "v1.0.2", kill_after=2),
        write_bundle(build, "amd64", "v1.0.3"),
        write_bundle(build, "amd64", "v1.0.4", pause_after=2),
    ]
    return lay_out_bucket(root / "bucket", tarballs)


def files_only(tree: dict) -> dict:
    return {k: v for k, v in tree.items() if v[0] != "dir"}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_failing_install_restores_previous_installation_exactly(installer: str, fixture_bucket: Path,
                                                                tmp_path: Path) -> None:
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    base = ["-a", "amd64", "-m", fixture_bucket.as_uri()]
    assert run_get(installer, [*base, "-t", "v1.0.0"], destdir=dest, tmpdir=tmp).returncode == 0
    (dest / "etc/crio/crio.conf").write_text("# changed by the admin\n")
    before = snapshot(dest)

    result = run_get(installer, [*base, "-t", "v1.0.1"], destdir=dest, tmpdir=tmp)

    assert result.returncode == ExitCode.INSTALL, result.stderr
    assert "restored" in result.stderr
    assert snapshot(dest) == before
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_failing_first_install_leaves_nothing(installer: str, fixture_bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_get(installer, ["-a", "amd64", "-m", fixture_bucket.as_uri(), "-t", "v1.0.1"], destdir=dest,
                     tmpdir=tmp_path / "tmp")
    assert result.returncode == ExitCode.INSTALL
    assert snapshot(dest) == {}


@pytest.mark.parametrize(("first", "second"), [("bash", "python"), ("python", "bash")])
def test_rerun_after_a_kill_rolls_back_then_installs(first: str, second: str, fixture_bucket: Path,
                                                      tmp_path: Path) -> None:
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    base = ["-a", "amd64", "-m", fixture_bucket.as_uri()]
    assert run_get(first, [*base, "-t", "v1.0.0"], destdir=dest, tmpdir=tmp).returncode == 0
    installed_v100 = snapshot(dest)

    killed = run_get(first, [*base, "-t", "v1.0.2"], destdir=dest, tmpdir=tmp, new_session=True)
    assert killed.returncode == -9, killed.stderr
    assert (dest / STATE / "transaction" / "journal").is_file()
    assert snapshot(dest) != installed_v100, "the kill should have left a half-done install"

    # The other installer finds the journal, restores v1.0.0 exactly, then installs v1.0.3.
    rerun = run_get(second, [*base, "-t", "v1.0.3"], destdir=dest, tmpdir=tmp)
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted" in rerun.stderr
    assert not (dest / STATE / "transaction").exists()
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.0.3")

    clean = tmp_path / "clean"
    assert run_get(second, [*base, "-t", "v1.0.0"], destdir=clean, tmpdir=tmp).returncode == 0
    assert run_get(second, [*base, "-t", "v1.0.3"], destdir=clean, tmpdir=tmp).returncode == 0
    def relative(tree: dict, root: Path) -> dict:
        return {k: (kind, mode, data.replace(str(root).encode(), b"")) for k, (kind, mode, data) in tree.items()}

    assert relative(files_only(snapshot(dest)), dest) == relative(files_only(snapshot(clean)), clean)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_removes_exactly_what_was_installed(installer: str, published, tmp_path: Path) -> None:
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    (dest / "etc/containers").mkdir(parents=True)
    (dest / "etc/containers/storage.conf").write_text("# not ours\n")
    (dest / "usr/local/bin").mkdir(parents=True)
    (dest / "usr/local/bin/kubelet").write_bytes(b"not ours")
    before = files_only(snapshot(dest))

    installed = run_get(installer, ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG], destdir=dest,
                        tmpdir=tmp)
    assert installed.returncode == 0, installed.stderr
    record = dest / STATE / INSTALL_RECORD
    assert record.is_file()
    added = set(files_only(snapshot(dest))) - set(before)
    assert len(added) > 10

    removed = run_get(installer, ["-U"], destdir=dest, tmpdir=tmp)

    assert removed.returncode == 0, removed.stderr
    assert files_only(snapshot(dest)) == before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_without_a_record_fails(installer: str, tmp_path: Path) -> None:
    result = run_get(installer, ["-U"], destdir=tmp_path / "dest", tmpdir=tmp_path / "tmp")
    assert result.returncode == ExitCode.INSTALL
    assert "no installation recorded" in result.stderr


def test_curl_pipe_bash_installs_into_destdir(published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    env = {"PATH": os.environ["PATH"], "DESTDIR": str(dest), "TMPDIR": str(tmp_path)}
    command = (f"curl -fsSL {GET_SCRIPT.as_uri()} | bash -s -- -a amd64 -m {published.plain.as_uri()} -t {TAG} "
               f"{SKIP_SIGNATURES}")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert (dest / STATE / INSTALL_RECORD).is_file()
    assert os.access(dest / "usr/local/bin/crio-status", os.X_OK)


def test_cut_off_script_runs_nothing(tmp_path: Path) -> None:
    """A download cut off half way defines functions but never reaches `main "$@"`."""
    text = GET_SCRIPT.read_text()
    half = text[: len(text) // 2]
    half = half[: half.rfind("\n}\n") + 3]
    result = subprocess.run(["bash", "-s", "--", "-h"], input=half, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize("installer", INSTALLERS)
def test_not_root_without_destdir_is_refused(installer: str, published, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o777)
    tmp.chmod(0o777)
    command = ["bash", str(GET_SCRIPT)] if installer == "bash" else [str(CRIO_GET)]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp)}
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command, "-a", "amd64",
                             "-m", published.plain.as_uri(), "-t", TAG], env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == ExitCode.NOT_ROOT, result.stderr
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize(("download", "install"), [("bash", "python"), ("python", "bash")])
def test_offline_flow_download_then_install_from_file(download: str, install: str, published,
                                                      tmp_path: Path) -> None:
    offline = tmp_path / "usb"
    got = run_get(download, ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG, "-d", str(offline)],
                  destdir=None, tmpdir=tmp_path / "tmp")
    assert got.returncode == 0, got.stderr
    tarball = offline / tarball_name("amd64", TAG)
    assert tarball.read_bytes() == (published.plain / object_path(tarball.name)).read_bytes()
    dest = tmp_path / "dest"
    done = run_get(install, ["-f", str(tarball)], destdir=dest, tmpdir=tmp_path / "tmp")
    assert done.returncode == 0, done.stderr
    assert (dest / STATE / INSTALL_RECORD).is_file()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_reinstall_over_same_revision_keeps_state_consistent(installer: str, published, tmp_path: Path) -> None:
    bucket = copy_bucket(published.plain, tmp_path / "bucket")
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    args = ["-a", "amd64", "-m", bucket.as_uri(), "-t", TAG]
    assert run_get(installer, args, destdir=dest, tmpdir=tmp).returncode == 0
    first = files_only(snapshot(dest))
    assert run_get(installer, args, destdir=dest, tmpdir=tmp).returncode == 0
    # The same files, and the first installation kept for --rollback (tests/get/test_rollback.py).
    assert {k for k in files_only(snapshot(dest)) if not k.startswith(f"{STATE}/previous/")} == first.keys()
    assert (dest / STATE / "previous").is_dir()
    assert not (dest / STATE / "transaction").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_sigterm_during_install_restores_previous_installation(installer: str, fixture_bucket: Path,
                                                               tmp_path: Path) -> None:
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    base = ["-a", "amd64", "-m", fixture_bucket.as_uri()]
    assert run_get(installer, [*base, "-t", "v1.0.0"], destdir=dest, tmpdir=tmp).returncode == 0
    before = snapshot(dest)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp), "DESTDIR": str(dest)}
    command = ["bash", str(GET_SCRIPT)] if installer == "bash" else [str(CRIO_GET)]
    proc = subprocess.Popen([*command, SKIP_SIGNATURES, *base, "-t", "v1.0.4"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    paused = dest / STATE / "paused"
    deadline = time.monotonic() + 20
    while not paused.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert paused.exists(), "the install script never reached its pause"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)

    assert proc.returncode == 143, err
    assert snapshot(dest) == before
    assert list(tmp.iterdir()) == []
