"""Build unpacked test bundles from release/crio_release/build/files and drive their real install script.

The main fixture installs the real embedded bundle (built by crio_release.build.bundle,
unpacked with tar); `make_bundle_tree` builds a variant with extra files (a
fake `bin/crio-status`, a manifest.json in the builder's format) for the rules
the embedded bundle cannot show. Other areas may use `run_install` (the script
under bash with a clean environment) and `snapshot`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

import crio_release

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_MANIFEST, BUNDLE_TOP

BUNDLE_FILES = Path(crio_release.__file__).parent / "build" / "files"

FAKE_CRIO_STATUS = b"#!/bin/sh\necho 'crio-status (test bundle)'\n"

#: Paths a bundle's install must never inherit from the caller's environment.
PATH_VARIABLES = (
    "DESTDIR", "PREFIX", "ETCDIR", "LIBEXECDIR", "LIBEXEC_CRIO_DIR", "ETC_CRIO_DIR", "CONTAINERS_DIR",
    "CONTAINERS_REGISTRIES_CONFD_DIR", "CNIDIR", "BINDIR", "MANDIR", "OCIDIR", "BASHINSTALLDIR", "FISHINSTALLDIR", "ZSHINSTALLDIR", "OPT_CNI_BIN_DIR",
    "SYSTEMDDIR", "SYSCONFIGDIR", "STATEDIR",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(top: Path) -> Path:
    """manifest.json with every regular file below `top` (path relative to it, sha256, size, mode)."""
    files = []
    for path in sorted(p for p in top.rglob("*") if p.is_file() and p.name != BUNDLE_MANIFEST):
        files.append({
            "path": path.relative_to(top).as_posix(),
            "sha256": sha256(path),
            "size": path.stat().st_size,
            "mode": f"{stat.S_IMODE(path.stat().st_mode):04o}",
        })
    manifest = top / BUNDLE_MANIFEST
    manifest.write_text(json.dumps({"components": [{"name": "crio-status", "version": "test"}], "files": files},
                                   indent=2) + "\n")
    return manifest


def make_bundle_tree(root: Path, extra: Mapping[str, bytes] | None = None, *, manifest: bool = True,
                     via_tar: bool = True) -> Path:
    """An unpacked bundle `root/cri-o`: bundle_files + bin/crio-status + `extra` files (+ manifest.json).

    With `via_tar`, the tree is packed with GNU tar (owner 0, sorted) and extracted
    again with tar, as a node would see it.
    """
    src = root / "src" / BUNDLE_TOP
    shutil.copytree(BUNDLE_FILES, src)
    files = {"bin/crio-status": FAKE_CRIO_STATUS, **(extra or {})}
    for name, data in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if name.split("/")[0] in ("bin", "cni-plugins", "libexec") else 0o644)
    (src / BUNDLE_INSTALL_SCRIPT).chmod(0o755)
    if manifest:
        write_manifest(src)
    if not via_tar:
        return src
    tarball = root / "bundle.tar.gz"
    subprocess.run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", str(tarball),
                    "-C", str(src.parent), BUNDLE_TOP], check=True)
    return unpack(tarball, root / "unpacked")


def unpack(tarball: Path, into: Path) -> Path:
    """Extract a bundle tarball with GNU tar, as a node does; returns its `cri-o/` directory."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(into)], check=True)
    return into / BUNDLE_TOP


def install_env(os_release: Path | None = None, **variables: str) -> dict[str, str]:
    """A clean environment: PATH, HOME, the given path variables and nothing else of the caller's."""
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES and not k.startswith("CRIO_INSTALL")}
    env.pop("OS_RELEASE_FILE", None)
    if os_release is not None:
        env["OS_RELEASE_FILE"] = str(os_release)
    env.update(variables)
    return env


def run_install(script: Path, *args: str, env: Mapping[str, str], cwd: Path | None = None,
                runner: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run `bash SCRIPT ARGS` and capture its text output; never raises on a non-zero exit."""
    return subprocess.run([*runner, "bash", str(script), *args], env=dict(env), cwd=cwd or script.parent,
                          capture_output=True, text=True, timeout=60)


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every path below `root` -> (type, mode, sha256 or link target); '' for directories."""
    out: dict[str, tuple[str, int, str]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", mode, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, "")
            else:
                out[rel] = ("file", mode, sha256(path))
    return out
