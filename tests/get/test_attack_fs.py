"""Attacks on the filesystem, before and around verification: both installers, the same outcome.

Issue 12, "pre-verification & filesystem safety". Each case runs scripts/get and crio-get against
real files (buckets over file:// or a loopback HTTP server, real tar/curl/sha256sum/openssl) and
checks what matters to the host: the exit code, one error line, and that nothing was written where
it must not be — a canary directory outside everything, DESTDIR (compared entry by entry, special
files included) and TMPDIR.

- hostile bundles that write through links (the PATH_MAX symlink chain of CVE-2025-4517, a
  parent-symlink escape, a hard link to a passwd-like file), also with a wrong sha256, a junk
  `.sig` and `-k` (crio-get unpacks while downloading, before the sha256 is known);
- `-d DIR` with links planted at the names it writes;
- the one `file://` rule (host, `?`/`#`, escapes decoded once);
- a FIFO, socket, device or directory where a file goes;
- secrets in URLs, malformed CRIO_GET_* numbers;
- DESTDIR as a root: links inside it that lead out.
"""

from __future__ import annotations

import gzip
import io
import os
import socket
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from crio_release.build.bundle import build_bundles
from helpers.bundle_install import install_env, make_bundle_tree, run_install
from helpers.bundles import EPOCH, REV, write_minimal_bundle_files, write_spec
from helpers.get_fixtures import (
    INSTALLERS,
    bundle_files,
    lay_out_bucket,
    run_get,
    write_bundle,
    write_side_files,
)
from helpers.http_server import FaultServer

from crio.artifacts import (
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    manifest_name,
    manifest_signature_name,
    object_path,
    tarball_name,
)
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.manifest import FileEntry, RevisionManifest
from crio.signing import generate_keypair, sign_file

TAG = "v1.21.0"
NAME = tarball_name("amd64", TAG)
STATE = INSTALL_STATE_DIR.lstrip("/")
VICTIM = b"root:x:0:0:root:/root:/bin/bash\n"


# --- a world per test: canary outside, DESTDIR with something in it, TMPDIR -----------------------

@dataclass
class World:
    root: Path
    canary: Path     # outside everything the installers may write; holds `victim`
    victim: Path
    destdir: Path
    tmp: Path

    def before(self) -> dict[str, tuple]:
        return {"canary": tree(self.canary), "destdir": tree(self.destdir)}

    def unchanged_since(self, before: dict[str, tuple], detail: str) -> None:
        assert tree(self.canary) == before["canary"], f"the canary outside changed\n{detail}"
        assert tree(self.destdir) == before["destdir"], f"DESTDIR changed\n{detail}"
        assert list(self.tmp.iterdir()) == [], f"stray files in TMPDIR: {list(self.tmp.iterdir())}\n{detail}"
        assert self.victim.read_bytes() == VICTIM


@pytest.fixture
def world(tmp_path: Path) -> World:
    canary = tmp_path / "canary"
    canary.mkdir()
    victim = canary / "victim"
    victim.write_bytes(VICTIM)
    destdir = tmp_path / "dest"
    (destdir / "usr/local/bin").mkdir(parents=True)
    (destdir / "usr/local/bin/keep").write_bytes(b"the admin's file\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return World(tmp_path, canary, victim, destdir, tmp)


def tree(root: Path) -> dict[str, tuple]:
    """Every entry below `root` by lstat: kind, mode, and bytes of regular files / target of links.

    Never opens a FIFO, socket or device (unlike helpers.get_fixtures.snapshot).
    """
    out: dict[str, tuple] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_mode, path.read_bytes())
            else:
                out[rel] = (stat.S_IFMT(st.st_mode), st.st_mode)
    return out


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("crio-get: error:")]


def detail_of(installer: str, args: list[str], result) -> str:
    return f"{installer} {args}\nrc {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"


# --- 1. hostile bundles that write through links ---------------------------------------------------

def _member(tf: tarfile.TarFile, name: str, data: bytes | None = None, **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o755 if data is None else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    if data is None:
        tf.addfile(info)
    else:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def deep_symlink_chain(tf: tarfile.TarFile, w: World) -> str:
    """CVE-2025-4517's shape, inside cri-o/: directory symlinks a..p whose real path overflows PATH_MAX.

    Every link target, judged from the member's own name, stays inside cri-o/, and tarfile's `data`
    filter (realpath) gives up at PATH_MAX on Pythons before 3.11.13/3.12.11/3.13.4, so it lets
    `cri-o/escape` (through the chain, up to /, down to the canary) and a file through it pass.
    The directory name length is chosen so the deepest directory still fits in PATH_MAX.
    """
    staging = len(str(w.tmp)) + len("/crio-get.XXXXXXXX/staging/cri-o")
    steps = "abcdefghijklmnop"
    comp = "d" * ((4095 - staging) // len(steps) - 1)
    assert 40 < len(comp) < 256
    path = "cri-o"
    for step in steps:
        _member(tf, f"{path}/{comp}", type=tarfile.DIRTYPE)
        _member(tf, f"{path}/{step}", type=tarfile.SYMTYPE, linkname=comp)
        path = f"{path}/{comp}"
    long_link = "/".join(steps) + "/" + "l" * 254
    _member(tf, f"cri-o/{long_link}", type=tarfile.SYMTYPE, linkname="../" * len(steps))
    up_to_root = "../" * (len(steps) + 1)
    _member(tf, "cri-o/escape", type=tarfile.SYMTYPE,
            linkname=f"{long_link}/{up_to_root}{str(w.canary).lstrip('/')}")
    _member(tf, "cri-o/escape/pwned", b"written outside staging\n")
    return "cri-o/a"


def parent_symlink(tf: tarfile.TarFile, w: World) -> str:
    """A directory symlink that stays inside, then a link made through it that leads out, then a file.

    From its own name `cri-o/s1/s2/s3/s4/p/q -> ../../../..` is `cri-o/s1`; made through p (-> cri-o)
    it lands at cri-o/q and points four levels above cri-o: TMPDIR's parent, where the canary is.
    """
    for depth in range(1, 5):
        _member(tf, "cri-o/" + "/".join(f"s{i}" for i in range(1, depth + 1)), type=tarfile.DIRTYPE)
    _member(tf, "cri-o/s1/s2/s3/s4/p", type=tarfile.SYMTYPE, linkname="../../../..")
    _member(tf, "cri-o/s1/s2/s3/s4/p/q", type=tarfile.SYMTYPE, linkname="../../../..")
    _member(tf, "cri-o/s1/s2/s3/s4/p/q/canary/pwned", b"written outside staging\n")
    return "cri-o/s1/s2/s3/s4/p"


def hardlink_passwd(tf: tarfile.TarFile, w: World) -> str:
    """A hard link to a passwd-like file outside, then a regular file of the same name over it."""
    _member(tf, "cri-o/bin/passwd", type=tarfile.LNKTYPE, linkname=str(w.victim))
    _member(tf, "cri-o/bin/passwd", b"evil::0:0::/:/bin/sh\n")
    return "cri-o/bin/passwd"


ATTACKS = {"deep-symlink-chain": deep_symlink_chain, "parent-symlink": parent_symlink,
           "hardlink-passwd": hardlink_passwd}


def hostile_bucket(w: World, attack: str, *, wrong_sha: bool) -> tuple[Path, str]:
    """A bucket whose TAG bundle carries the attack after the ordinary files; the first link's name."""
    build = w.root / "build"
    build.mkdir()
    tarball = build / NAME
    with open(tarball, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tf:
        _member(tf, "cri-o", type=tarfile.DIRTYPE)
        for name, (data, mode) in sorted(bundle_files(TAG).items()):
            _member(tf, f"cri-o/{name}", data, mode=mode)
        first_link = ATTACKS[attack](tf, w)
    write_side_files(tarball, digest="0" * 64 if wrong_sha else None)
    if wrong_sha:
        (build / (NAME + ".sig")).write_bytes(b"MEUCIQDjunkjunkjunkjunkjunkjunkjunkjunkjunkjunkjunk==\n")
    return lay_out_bucket(w.root / "bucket", [tarball]), first_link


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("wrong_sha", [False, True], ids=["valid-sha256", "wrong-sha256-junk-sig-key"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_links_in_a_bundle_write_nothing_outside_staging(installer: str, attack: str, wrong_sha: bool,
                                                         world: World) -> None:
    bucket, first_link = hostile_bucket(world, attack, wrong_sha=wrong_sha)
    args = ["-a", "amd64", "-t", TAG]
    if wrong_sha:   # the defect 1: crio-get used to unpack all of it before looking at the sha256
        key = world.root / "key.pub"
        key.write_bytes(generate_keypair()[1])
        args += ["-k", str(key)]
    before = world.before()
    with FaultServer(bucket) as server:
        args += ["-m", server.url]
        result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == ExitCode.VERIFICATION, detail
    assert len(error_lines(result)) == 1, detail
    if not wrong_sha:
        assert f"'{first_link}'" in error_lines(result)[0], detail
        assert "link" in error_lines(result)[0], detail
    world.unchanged_since(before, detail)
    assert not (world.canary / "pwned").exists()


def _sign_revision_manifest(bucket: Path, tarball: Path, private: bytes) -> None:
    """The signed per-revision manifest listing `tarball` (what a key-verifying install requires)."""
    entry = FileEntry(tarball.name, "amd64", "tarball", tarball.stat().st_size, sha256_file(tarball))
    path = bucket / object_path(manifest_name(TAG))
    path.write_text(RevisionManifest(TAG, TAG.removeprefix("v"), ["amd64"], [entry], 1700000000).to_json())
    (bucket / object_path(manifest_signature_name(TAG))).write_bytes(sign_file(path, private))


# --- 2. -d DIR never follows a planted link ---------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_download_dir_replaces_planted_links_and_never_writes_through_them(installer: str, world: World) -> None:
    private, public = generate_keypair()
    key = world.root / "key.pub"
    key.write_bytes(public)
    build = world.root / "build"
    tarball = write_bundle(build, "amd64", TAG, private_key=private)
    bucket = lay_out_bucket(world.root / "bucket", [tarball])
    _sign_revision_manifest(bucket, tarball, private)   # with -k the signed revision manifest must bind it
    target = world.root / "downloads"
    target.mkdir()
    victims = {}
    for name in (NAME, NAME + ".sha256sum", NAME + ".sig", f".{NAME}.partial"):
        victims[name] = world.canary / f"victim-{name}"
        victims[name].write_bytes(VICTIM)
        (target / name).symlink_to(victims[name])
    dangling = world.canary / "created-through-a-dangling-link"
    (target / (NAME + ".sha256sum")).unlink()
    (target / (NAME + ".sha256sum")).symlink_to(dangling)
    args = ["-a", "amd64", "-m", bucket.as_uri(), "-t", TAG, "-k", str(key), "-d", str(target)]
    result = run_get(installer, args, destdir=None, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == 0, detail
    for victim in victims.values():
        assert victim.read_bytes() == VICTIM, f"{victim.name} was written through a link\n{detail}"
    assert not dangling.exists(), detail
    for name in (NAME, NAME + ".sha256sum", NAME + ".sig"):
        path = target / name
        assert not path.is_symlink() and path.is_file(), detail
        assert path.read_bytes() == (build / name).read_bytes(), detail
    assert (target / f".{NAME}.partial").is_symlink()   # not ours: left alone
    kept = [manifest_name(TAG), manifest_signature_name(TAG)]   # -d keeps the revision manifest for -f -k
    assert sorted(p.name for p in target.iterdir()) == sorted([*victims, *kept]), detail
    assert list(world.tmp.iterdir()) == []


# --- 3. one file:// rule ---------------------------------------------------------------------------

@pytest.fixture
def plain_bucket(world: World) -> Path:
    return lay_out_bucket(world.root / "bucket", [write_bundle(world.root / "build", "amd64", TAG)])


def installed_crio(w: World) -> bytes:
    return (w.destdir / "usr/local/bin/crio").read_bytes()


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("form", "code"), [
    ("file://evil{path}", ExitCode.USAGE),
    ("file://localhost{path}", 0),
    ("file://LOCALHOST{path}", 0),
    ("file://{path}?x=1", ExitCode.USAGE),
    ("file://{path}#frag", ExitCode.USAGE),
    ("file://{path}%zz", ExitCode.USAGE),
    ("file://{path}%00", ExitCode.USAGE),
    ("file://{path}%0a", ExitCode.USAGE),
])
def test_file_url_host_query_fragment_and_escapes(installer: str, form: str, code: int, world: World,
                                                  plain_bucket: Path) -> None:
    url = form.replace("{path}", str(plain_bucket))
    before = world.before()
    args = ["-a", "amd64", "-m", url, "-t", TAG]
    result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == code, detail
    if code:
        assert len(error_lines(result)) == 1, detail
        world.unchanged_since(before, detail)
    else:
        assert installed_crio(world).startswith(b"#!/bin/sh\necho crio v1.21.0"), detail


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("spelling", ["literal-backslash", "percent-5C"])
def test_a_backslash_in_a_file_url_is_a_backslash(installer: str, spelling: str, world: World) -> None:
    r"""`a\x41` names the directory `a\x41`, never `aA` (scripts/get used to decode with printf %b)."""
    good = lay_out_bucket(world.root / "mirrors" / "a\\x41", [write_bundle(world.root / "good", "amd64", TAG)])
    lay_out_bucket(world.root / "mirrors" / "aA",
                   [write_bundle(world.root / "other", "amd64", TAG, payload=b"# the other mirror\n")])
    path = str(good) if spelling == "literal-backslash" else str(good).replace("\\", "%5C")
    args = ["-a", "amd64", "-m", f"file://{path}", "-t", TAG]
    result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == 0, detail
    assert b"the other mirror" not in installed_crio(world), detail


# --- 4. a FIFO, socket, device or directory where a file goes ---------------------------------------

def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_bytes(b"x")


def _socket(path: Path) -> None:
    here = os.getcwd()
    os.chdir(path.parent)   # AF_UNIX paths are short: bind by a relative name
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def _device(path: Path) -> None:
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")


SPECIALS = {"fifo": _fifo, "directory": _directory, "socket": _socket, "device": _device}


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("where", ["usr/local/bin/crio", f"{STATE}/{INSTALL_RECORD}"])
@pytest.mark.parametrize("kind", list(SPECIALS))
def test_a_special_file_at_a_destination_is_refused_before_anything_is_written(
        installer: str, kind: str, where: str, world: World, plain_bucket: Path) -> None:
    target = world.destdir / where
    target.parent.mkdir(parents=True, exist_ok=True)
    SPECIALS[kind](target)
    before = world.before()
    args = ["-a", "amd64", "-m", plain_bucket.as_uri(), "-t", TAG]
    result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp, timeout=30)
    detail = detail_of(installer, args, result)
    assert result.returncode == ExitCode.INSTALL, detail
    assert len(error_lines(result)) == 1 and str(target) in error_lines(result)[0], detail
    assert "Traceback" not in result.stderr, detail
    world.unchanged_since(before, detail)


# --- 5. secrets in URLs; malformed numbers --------------------------------------------------------

SECRETS = ("hunter2", "topsecretsig")


def _no_secret(result, detail: str) -> None:
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr, f"{secret} was printed\n{detail}"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_dry_run_shows_urls_without_credentials_or_query(installer: str, world: World) -> None:
    url = "https://admin:hunter2@mirror.invalid/crio?X-Goog-Signature=topsecretsig"
    args = ["-a", "amd64", "-m", url, "-t", TAG, "-n"]
    result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == 0, detail
    _no_secret(result, detail)
    assert "tarball: https://***@mirror.invalid/crio?***" in result.stdout, detail


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("case", "code"), [("refused", ExitCode.DOWNLOAD), ("missing-marker", ExitCode.RESOLUTION)])
def test_failures_name_urls_without_credentials_or_query(installer: str, case: str, code: int, world: World,
                                                         plain_bucket: Path) -> None:
    with FaultServer(plain_bucket) as server:
        port = server.url.rsplit(":", 1)[1]
        if case == "refused":
            with socket.socket() as probe:   # a port nothing listens on
                probe.bind(("127.0.0.1", 0))
                port = str(probe.getsockname()[1])
        base = f"http://admin:hunter2@127.0.0.1:{port}/?X-Goog-Signature=topsecretsig"
        args = ["-a", "amd64", "-m", base, "-t", TAG if case == "refused" else "v1.30"]
        result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp,
                         env={"CRIO_GET_RETRIES": "2"})
    detail = detail_of(installer, args, result)
    assert result.returncode == code, detail
    assert len(error_lines(result)) == 1, detail
    _no_secret(result, detail)
    assert "***" in error_lines(result)[0], detail


NUMBERS = [
    ("CRIO_GET_RETRY_DELAY", "abc", 2), ("CRIO_GET_RETRY_DELAY", "1e3", 2), ("CRIO_GET_RETRY_DELAY", "-1", 2),
    ("CRIO_GET_RETRY_DELAY", "600.001", 2), ("CRIO_GET_RETRY_DELAY", "0.1234", 2), ("CRIO_GET_RETRY_DELAY", " 1", 2),
    ("CRIO_GET_RETRY_DELAY", "0", 0), ("CRIO_GET_RETRY_DELAY", "0.5", 0), ("CRIO_GET_RETRY_DELAY", "600.000", 0),
    ("CRIO_GET_RETRY_DELAY", "", 0),
    ("CRIO_GET_TIMEOUT", "0", 2), ("CRIO_GET_TIMEOUT", "030", 2), ("CRIO_GET_TIMEOUT", "\u00b2", 2),
    ("CRIO_GET_TIMEOUT", "\u0663", 2), ("CRIO_GET_TIMEOUT", "86401", 2), ("CRIO_GET_TIMEOUT", "86400", 0),
    ("CRIO_GET_RETRIES", "101", 2), ("CRIO_GET_RETRIES", "1.5", 2), ("CRIO_GET_RETRIES", "100", 0),
    ("CRIO_GET_MAX_BYTES", "99999999999999999999999", 2), ("CRIO_GET_MAX_BYTES", "1000000000000000000", 2),
    ("CRIO_GET_MAX_BYTES", "999999999999999999", 0), ("CRIO_GET_MAX_BYTES", "0x10", 2),
]


@pytest.mark.parametrize("installer", INSTALLERS)
def test_malformed_numbers_are_usage_errors(installer: str, world: World) -> None:
    mismatches = []
    for name, value, code in NUMBERS:
        args = ["-a", "amd64", "-m", "https://mirror.invalid/crio", "-t", TAG, "-n"]
        result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp, env={name: value})
        one_line = code == 0 or (len(error_lines(result)) == 1 and name in error_lines(result)[0])
        if result.returncode != code or not one_line or "Traceback" in result.stderr:
            mismatches.append(f"{name}={value!r}: rc {result.returncode}, expected {code}: {result.stderr}")
    assert not mismatches, "\n".join(mismatches)


# --- 6. DESTDIR is a root: links in it that lead out ----------------------------------------------

def _outside(w: World, name: str) -> Path:
    path = w.canary / name
    path.mkdir()
    (path / "theirs").write_bytes(VICTIM)
    return path


LINKS = {
    "bin-to-host-bin": ("usr/local/bin", lambda w: _outside(w, "host-bin")),
    "etc-to-host-etc": ("etc", lambda w: _outside(w, "host-etc")),
    "var-to-host-var": ("var", lambda w: _outside(w, "host-var")),
    "dangling-out": ("etc", lambda w: w.canary / "nowhere"),
}


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("spelling", ["plain", "extra-slashes"])
@pytest.mark.parametrize("link", list(LINKS))
def test_a_link_in_destdir_leading_outside_is_refused(installer: str, link: str, spelling: str, world: World,
                                                      plain_bucket: Path) -> None:
    where, make_target = LINKS[link]
    path = world.destdir / where
    if path.exists():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(make_target(world))
    before = world.before()
    args = ["-a", "amd64", "-m", plain_bucket.as_uri(), "-t", TAG]
    destdir = str(world.destdir) if spelling == "plain" else str(world.destdir).replace("/", "//") + "/"
    result = run_get(installer, args, destdir=None, tmpdir=world.tmp, env={"DESTDIR": destdir})
    detail = detail_of(installer, args, result)
    if spelling == "extra-slashes":
        # DESTDIR is data too (crio.paths): a spelling with empty components is refused before anything.
        assert result.returncode == ExitCode.USAGE, detail
        assert len(error_lines(result)) == 1 and "DESTDIR=" in error_lines(result)[0], detail
    else:
        assert result.returncode == ExitCode.INSTALL, detail
        assert len(error_lines(result)) == 1 and str(path) in error_lines(result)[0], detail
    world.unchanged_since(before, detail)
    assert not (world.canary / "nowhere").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_link_that_stays_inside_destdir_is_followed(installer: str, world: World, plain_bucket: Path) -> None:
    real = world.destdir / "opt/bin"
    real.mkdir(parents=True)
    bindir = world.destdir / "usr/local/bin"
    (bindir / "keep").unlink()
    bindir.rmdir()
    bindir.symlink_to("../../opt/bin")
    args = ["-a", "amd64", "-m", plain_bucket.as_uri(), "-t", TAG]
    result = run_get(installer, args, destdir=world.destdir, tmpdir=world.tmp)
    detail = detail_of(installer, args, result)
    assert result.returncode == 0, detail
    assert (real / "crio").is_file() and bindir.is_symlink(), detail


# --- the bundle's own install script, and the builder -------------------------------------------

@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_the_install_script_refuses_a_bundle_holding_a_link(kind: str, tmp_path: Path) -> None:
    bundle = make_bundle_tree(tmp_path / "b", via_tar=False)
    if kind == "symlink":
        (bundle / "contrib" / "escape").symlink_to("/etc")
    else:
        os.link(bundle / "bin" / "crio-status", tmp_path / "second-name")
    destdir = tmp_path / "dest"
    destdir.mkdir()
    for args in ((), ("--list",)):
        result = run_install(bundle / "install", *args, env=install_env(DESTDIR=str(destdir)))
        assert result.returncode == ExitCode.VERIFICATION, result.stderr
        assert "is a link" in result.stderr and result.stderr.count("error:") == 1
        assert tree(destdir) == {}


def test_the_builder_refuses_to_put_a_link_in_a_bundle(tmp_path: Path) -> None:
    files = write_minimal_bundle_files(tmp_path / "files")
    real = tmp_path / "elsewhere-install"
    real.write_text("#!/bin/sh\n")
    (files / "install").unlink()
    (files / "install").symlink_to(real)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "crio.conf").write_text("x\n")
    spec = write_spec(tmp_path / "spec.toml", '\n[[component]]\nname = "etc"\nversion = "1"\n'
                      'license = "Apache-2.0"\ndest = "etc"\nmode = "0644"\n[component.source.all]\npath = "etc"\n')
    with pytest.raises(CrioError) as caught:
        build_bundles(spec, ["amd64"], REV, tmp_path / "out", source_date_epoch=EPOCH, bundle_files=files)
    assert caught.value.exit_code == ExitCode.BUILD
    assert str(files / "install") in caught.value.message and "symlink" in caught.value.message
    assert not any((tmp_path / "out").glob("*.tar.gz"))


def test_the_deep_chain_fixture_is_the_cve_shape(world: World) -> None:
    """The chain's real path overflows PATH_MAX while each directory on it fits (checked on the fixture)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tf:
        deep_symlink_chain(tf, world)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tf:
        names = tf.getnames()
        deepest = max((m.name for m in tf if m.isdir()), key=len)
    staging = len(str(world.tmp)) + len("/crio-get.XXXXXXXX/staging")
    assert staging + 1 + len(deepest) < 4096
    assert staging + 1 + len(deepest) + 1 + 254 > 4096
    assert "cri-o/escape/pwned" in names
