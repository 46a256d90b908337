"""The root path with no DESTDIR, where systemd runs: daemon-reload on a changed unit, stop + disable on uninstall.

Runs the real script as root inside a private mount namespace, chrooted into a
scratch root whose /usr is the host's, bound read-only (so nothing can reach the
host), with /run/systemd/system present and a `systemctl` that logs its calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.bundle_install import snapshot, write_manifest

from crio.artifacts import INSTALL_STATE_DIR

NAMESPACE_SCRIPT = r"""
set -euo pipefail
root=$1
shift
mount --bind /usr "$root/usr"
mount -o remount,bind,ro "$root/usr"
mount -t proc proc "$root/proc"
exec chroot "$root" /usr/bin/env -i PATH=/opt/fake:/usr/bin:/bin TMPDIR=/tmp PREFIX=/opt/crio "$@"
"""


def _usable() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0 and all(Path(p).is_symlink() for p in ("/bin", "/lib"))


pytestmark = pytest.mark.skipif(not _usable(), reason="needs root, mount namespaces and a merged-/usr host")


@pytest.fixture
def chroot(tmp_path: Path, bundle: Path) -> Path:
    root = tmp_path / "root"
    for d in ("usr", "proc", "dev", "tmp", "etc", "run/systemd/system", "opt/fake"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        if Path("/" + link).is_symlink():
            (root / link).symlink_to(os.readlink("/" + link))
    os.mknod(root / "dev/null", 0o20666, os.makedev(1, 3))
    (root / "dev/null").chmod(0o666)
    (root / "dev/fd").symlink_to("/proc/self/fd")
    (root / "etc/os-release").write_text("NAME=Debian\nID=debian\n")
    fake = root / "opt/fake/systemctl"
    fake.write_text('#!/bin/sh\necho "$*" >> /systemctl.log\n')
    fake.chmod(0o755)
    shutil.copytree(bundle, root / "bundle")
    return root


def in_chroot(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", NAMESPACE_SCRIPT, "_",
                           str(root), *command], capture_output=True, text=True, timeout=60)


def calls(root: Path) -> list[str]:
    log = root / "systemctl.log"
    return log.read_text().splitlines() if log.exists() else []


def test_daemon_reload_on_changed_unit_and_stop_disable_on_uninstall(chroot: Path) -> None:
    before = {p: v for p, v in snapshot(chroot).items() if not p.startswith(("bundle", "usr", "proc"))}
    out = in_chroot(chroot, "bash", "/bundle/install")
    assert out.returncode == 0, out.stderr
    assert (chroot / "opt/crio/lib/systemd/system/crio.service").is_file()
    assert "ExecStart=/opt/crio/bin/crio " in (chroot / "opt/crio/lib/systemd/system/crio.service").read_text()
    assert calls(chroot) == ["daemon-reload"]

    # Same unit again: no reload. A changed unit: reload.
    assert in_chroot(chroot, "bash", "/bundle/install").returncode == 0
    assert calls(chroot) == ["daemon-reload"]
    unit = chroot / "bundle/templates/contrib/crio.service"   # what the install script renders
    unit.write_text(unit.read_text().replace("RestartSec=10", "RestartSec=5"))
    write_manifest(chroot / "bundle")
    assert in_chroot(chroot, "bash", "/bundle/install").returncode == 0
    assert calls(chroot) == ["daemon-reload", "daemon-reload"]

    # Staging into a DESTDIR never talks to systemd.
    staged = in_chroot(chroot, "env", "DESTDIR=/stage", "bash", "/bundle/install")
    assert staged.returncode == 0, staged.stderr
    assert calls(chroot) == ["daemon-reload", "daemon-reload"]
    assert in_chroot(chroot, "env", "DESTDIR=/stage", "bash", f"/stage{INSTALL_STATE_DIR}/install",
                     "--uninstall").returncode == 0
    shutil.rmtree(chroot / "stage")

    # Uninstall finds the unit from the record, whatever SYSTEMDDIR it is given now.
    out = in_chroot(chroot, "env", "SYSTEMDDIR=/elsewhere", "bash", f"{INSTALL_STATE_DIR}/install", "--uninstall")
    assert out.returncode == 0, out.stderr
    assert calls(chroot)[2:] == ["stop -- crio.service", "disable -- crio.service", "daemon-reload"]
    (chroot / "systemctl.log").unlink()
    after = {p: v for p, v in snapshot(chroot).items() if not p.startswith(("bundle", "usr", "proc"))}
    assert after == before
