"""Bundles and buckets for the installer tests (scripts/get and crio-get).

`write_bundle` makes a small bundle tarball in the bundle contract's shape
(top dir `cri-o/`, an `install` script honouring DESTDIR/PREFIX/ETCDIR/BINDIR,
`--list`, `--uninstall`, and a record + self-copy in the install state dir).
`lay_out_bucket` places tarball and side files in the bucket layout of
crio.artifacts, with markers, so either installer can read it from `file://`
or over HTTP. `hostile_tarball` crafts the unsafe archives both must refuse.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from crio.artifacts import (
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    artifact_url,
    checksum_name,
    object_path,
    signature_name,
    tarball_name,
)
from crio.checksums import format_sha256sum
from crio.signing import sign_file

#: The in-bundle install script of the fixture bundles: the contract of
#: release/crio_release/build/files/install in ~40 lines (FAIL_AFTER makes it
#: fail after copying that many files, to test rollback; KILL_AFTER kills its
#: whole process group there, like a power cut, to test recovery).
INSTALL_SCRIPT = r"""#!/usr/bin/env bash
# crio-install-capabilities: list uninstall
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
BINDIR="${BINDIR:-$PREFIX/bin}"
ETCDIR="${ETCDIR:-/etc}"
STATE="$DESTDIR__STATE__"
FAIL_AFTER=__FAIL_AFTER__
KILL_AFTER=__KILL_AFTER__
PAUSE_AFTER=__PAUSE_AFTER__
pairs() {
    local f
    for f in "$here"/bin/*; do printf '%s\t%s\n' "$f" "$DESTDIR$BINDIR/$(basename "$f")"; done
    for f in "$here"/etc/*; do printf '%s\t%s\n' "$f" "$DESTDIR$ETCDIR/crio/$(basename "$f")"; done
}
case "${1-}" in
--list)
    pairs | cut -f2
    printf '%s\n' "$STATE/__RECORD__" "$STATE/install"
    exit 0 ;;
--uninstall)
    [ -f "$STATE/__RECORD__" ] || { echo "nothing recorded" >&2; exit 7; }
    while IFS=$'\t' read -r path _; do rm -f -- "$path"; done <"$STATE/__RECORD__"
    rm -f -- "$STATE/__RECORD__" "$STATE/install"
    rmdir -- "$STATE" 2>/dev/null || true
    exit 0 ;;
"") ;;
*) echo "usage: install [--list|--uninstall]" >&2; exit 2 ;;
esac
mkdir -p -- "$STATE"
: >"$STATE/__RECORD__.new"
n=0
while IFS=$'\t' read -r src dst; do
    if [ "$FAIL_AFTER" -ge 0 ] && [ "$n" -ge "$FAIL_AFTER" ]; then echo "install: simulated failure" >&2; exit 7; fi
    if [ "$KILL_AFTER" -ge 0 ] && [ "$n" -ge "$KILL_AFTER" ]; then kill -9 0; fi
    if [ "$PAUSE_AFTER" -ge 0 ] && [ "$n" -eq "$PAUSE_AFTER" ]; then : >"$STATE/paused"; sleep 1; rm -f "$STATE/paused"; fi
    install -D -m "$(stat -c %a "$src")" -- "$src" "$dst"
    printf '%s\t%s\n' "$dst" "$(sha256sum "$dst" | cut -d' ' -f1)" >>"$STATE/__RECORD__.new"
    n=$((n + 1))
done < <(pairs)
mv -- "$STATE/__RECORD__.new" "$STATE/__RECORD__"
install -m 0755 -- "$0" "$STATE/install"
"""


def install_script(fail_after: int = -1, kill_after: int = -1, pause_after: int = -1) -> str:
    return (
        INSTALL_SCRIPT.replace("__STATE__", INSTALL_STATE_DIR)
        .replace("__RECORD__", INSTALL_RECORD)
        .replace("__FAIL_AFTER__", str(fail_after))
        .replace("__KILL_AFTER__", str(kill_after))
        .replace("__PAUSE_AFTER__", str(pause_after))
    )


def _add(tf: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o644, **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = 0
    for key, value in attrs.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


def bundle_files(revision: str, payload: bytes = b"", fail_after: int = -1,
                 kill_after: int = -1, pause_after: int = -1) -> dict[str, tuple[bytes, int]]:
    """The files of a fixture bundle: name below cri-o/ -> (bytes, mode)."""
    return {
        "install": (install_script(fail_after, kill_after, pause_after).encode(), 0o755),
        "bin/crio": (f"#!/bin/sh\necho crio {revision}\n".encode() + payload, 0o755),
        "bin/pinns": (f"pinns {revision}\n".encode(), 0o755),
        "bin/crun": (f"crun {revision}\n".encode(), 0o755),
        "etc/crio.conf": (f"# crio.conf of {revision}\n".encode(), 0o644),
    }


def write_tarball(path: Path, files: dict[str, tuple[bytes, int]], top: str = "cri-o") -> Path:
    """A deterministic .tar.gz of `files` under `top/` (gzip level 1 keeps big payloads quick)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tf:
        _add(tf, f"{top}/", type=tarfile.DIRTYPE, mode=0o755)
        dirs = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
        for d in dirs:
            _add(tf, f"{top}/{d}/", type=tarfile.DIRTYPE, mode=0o755)
        for name, (data, mode) in sorted(files.items()):
            _add(tf, f"{top}/{name}", data, mode)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=1) as gz:
        gz.write(buffer.getvalue())
    return path


def write_side_files(tarball: Path, private_key: bytes | None = None, digest: str | None = None) -> None:
    """`.sha256sum` (of the real bytes unless `digest` is given) and, with a key, `.sig` beside a tarball."""
    real = hashlib.sha256(tarball.read_bytes()).hexdigest()
    tarball.with_name(tarball.name + ".sha256sum").write_text(format_sha256sum(digest or real, tarball.name))
    if private_key is not None:
        tarball.with_name(tarball.name + ".sig").write_bytes(sign_file(tarball, private_key))


def write_bundle(directory: Path, arch: str, revision: str, *, private_key: bytes | None = None,
                 fail_after: int = -1, kill_after: int = -1, pause_after: int = -1,
                 payload: bytes = b"") -> Path:
    """A fixture bundle tarball with its side files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = write_tarball(directory / tarball_name(arch, revision),
                         bundle_files(revision, payload, fail_after, kill_after, pause_after))
    write_side_files(path, private_key)
    return path


def lay_out_bucket(bucket: Path, tarballs: list[Path], markers: dict[str, str] | None = None) -> Path:
    """Copy tarballs and their side files to `bucket/artifacts/`, and write markers at the root."""
    (bucket / "artifacts").mkdir(parents=True, exist_ok=True)
    for tarball in tarballs:
        for candidate in (tarball, *tarball.parent.glob(tarball.name + ".*")):
            shutil.copyfile(candidate, bucket / object_path(candidate.name))
    for marker, text in (markers or {}).items():
        (bucket / marker).write_text(text)
    return bucket


def bucket_urls(base_url: str, arch: str, revision: str) -> dict[str, str]:
    return {
        "tarball": artifact_url(base_url, tarball_name(arch, revision)),
        "checksum": artifact_url(base_url, checksum_name(arch, revision)),
        "signature": artifact_url(base_url, signature_name(arch, revision)),
    }


# Hostile archives -----------------------------------------------------------------------

def hostile_tarball(path: Path, kind: str, revision: str = "v1.0.0") -> Path:
    """A bundle with one unsafe entry of `kind`, plus a valid .sha256sum so it passes the hash check."""
    files = bundle_files(revision)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tf:
        _add(tf, "cri-o/", type=tarfile.DIRTYPE, mode=0o755)
        for name, (data, mode) in sorted(files.items()):
            _add(tf, f"cri-o/{name}", data, mode)
        if kind == "dotdot":
            _add(tf, "cri-o/" + "../" * 16 + "crio-get-escaped", b"x")
        elif kind == "absolute":
            _add(tf, "/tmp/crio-get-escaped", b"x")
        elif kind == "symlink":
            _add(tf, "cri-o/bin/evil", type=tarfile.SYMTYPE, linkname="../../../etc/passwd")
        elif kind == "symlink_abs":
            _add(tf, "cri-o/bin/evil", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        elif kind == "hardlink":
            _add(tf, "cri-o/bin/evil", type=tarfile.LNKTYPE, linkname="etc/passwd")
        elif kind == "device":
            _add(tf, "cri-o/bin/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        elif kind == "fifo":
            _add(tf, "cri-o/bin/fifo", type=tarfile.FIFOTYPE)
        elif kind == "setuid":
            _add(tf, "cri-o/bin/su", b"#!/bin/sh\n", mode=0o4755)
        elif kind == "duplicate":
            _add(tf, "cri-o/bin/crio", b"#!/bin/sh\necho replaced\n", mode=0o755)
        elif kind == "second_top":
            _add(tf, "other/file", b"x")
        elif kind == "bomb":
            zeros = 50 * 1024 * 1024
            info = tarfile.TarInfo("cri-o/bin/zeros")
            info.size = zeros
            info.mode = 0o644
            tf.addfile(info, _Zeros(zeros))
        else:
            raise ValueError(kind)
    write_side_files(path)
    return path


class _Zeros(io.RawIOBase):
    """A file of `size` zero bytes that never holds them all in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


HOSTILE_KINDS = ("dotdot", "absolute", "symlink", "symlink_abs", "hardlink", "device", "fifo", "setuid",
                 "duplicate", "second_top", "bomb")


# Running the installers ---------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
GET_SCRIPT = REPO / "scripts" / "get"
CRIO_GET = Path(sys.executable).parent / "crio-get"
INSTALLERS = ("bash", "python")


def installer_command(installer: str) -> list[str]:
    """scripts/get under bash, or the crio-get console script."""
    return ["bash", str(GET_SCRIPT)] if installer == "bash" else [str(CRIO_GET)]


#: Flags that say how signatures are checked; a run naming none of them is not about signatures.
SIGNATURE_FLAGS = ("-k", "--key", "--insecure-skip-signature-verification", "--certificate-identity",
                   "--certificate-identity-regexp", "--certificate-oidc-issuer",
                   "--certificate-github-workflow-repository", "--trusted-root")
SKIP_SIGNATURES = "--insecure-skip-signature-verification"
#: Runs that only read or change what is on the node (and refuse other options).
NODE_ONLY_FLAGS = ("--verify", "--status", "--rollback")


def unsigned_unless_said(args: list[str], env: dict[str, str] | None) -> list[str]:
    """Signatures are required by default; a test that names no signature flag (nor CRIO_VERIFY_KEY)
    installs the unsigned fixtures with the skip flag, put first so `--` and usage checks are unchanged."""
    said = any(a == f or a.startswith(f + "=") for a in args for f in SIGNATURE_FLAGS)
    reads_the_node = any(a in NODE_ONLY_FLAGS for a in args)   # nothing is downloaded: no signature to skip
    if said or reads_the_node or (env or {}).get("CRIO_VERIFY_KEY") or (args and args[0] == "--contract"):
        return list(args)
    return [SKIP_SIGNATURES, *args]


def run_get(installer: str, args: list[str], *, destdir: Path | None, tmpdir: Path,
            env: dict[str, str] | None = None, timeout: float = 60, in_process: bool = True,
            new_session: bool = False, signatures: bool = False) -> subprocess.CompletedProcess[str]:
    """Run one installer with a clean environment: short timeouts, no retry delay, a private TMPDIR.

    crio-get runs in this process by default (its `main`, same argv and environment, exit code from
    SystemExit): a Python start-up per case would double the area's run time. Unless `signatures`
    (the test is about the default signature policy), see `unsigned_unless_said`.
    """
    if not signatures:
        args = unsigned_unless_said(args, env)
    tmpdir.mkdir(parents=True, exist_ok=True)
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmpdir)),
        "TMPDIR": str(tmpdir),
        "CRIO_GET_TIMEOUT": "2",
        "CRIO_GET_RETRIES": "3",
        "CRIO_GET_RETRY_DELAY": "0",
    }
    if destdir is not None:
        base["DESTDIR"] = str(destdir)
    base.update(env or {})
    if installer == "python" and in_process and not new_session:
        return _run_crio_get_here(args, base)
    return subprocess.run([*installer_command(installer), *args], env=base, capture_output=True, text=True,
                          timeout=timeout, check=False, start_new_session=new_session)


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry below `root`: kind, mode and content (link target for symlinks), for exact comparisons."""
    tree: dict[str, tuple[str, int, bytes]] = {}
    if not root.exists():
        return tree
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if path.is_symlink():
            tree[rel] = ("link", st.st_mode, os.readlink(path).encode())
        elif path.is_dir():
            tree[rel] = ("dir", st.st_mode, b"")
        else:
            tree[rel] = ("file", st.st_mode, path.read_bytes())
    return tree


def copy_bucket(source: Path, target: Path) -> Path:
    """A private copy of a bucket (the publisher's bookkeeping left out)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".crio-storage"))
    return target


def _run_crio_get_here(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import contextlib
    import tempfile

    from crio_installer.cli import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        tempfile.tempdir = None
    return subprocess.CompletedProcess(["crio-get", *args], code, out.getvalue(), err.getvalue())
