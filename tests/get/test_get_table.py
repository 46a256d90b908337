"""One table, both installers: scripts/get (real curl, tar, sha256sum, openssl) and crio-get.

Every case runs under both and must end the same way: the same exit code,
and either a complete install in DESTDIR or nothing at all (DESTDIR empty,
no stray files in TMPDIR). Buckets are real publisher output, read over
file:// or over HTTP from a fault-injecting server on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.get_fixtures import (
    INSTALLERS,
    copy_bucket,
    hostile_tarball,
    run_get,
    snapshot,
)
from helpers.http_server import FaultServer

from crio.artifacts import (
    BUNDLE_MAIN_MARKER,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    checksum_name,
    manifest_name,
    object_path,
    signature_name,
    tarball_name,
)
from crio.errors import ExitCode

TAG = "v1.21.0"
SHA = "0123456789abcdef0123456789abcdef01234567"
TARBALL = "/" + object_path(tarball_name("amd64", TAG))
SHA_TARBALL = "/" + object_path(tarball_name("amd64", SHA))
#: The marker a run without -t reads (its fallback, latest-main.txt: tests/get/test_flags_markers.py).
DEFAULT_MARKER = BUNDLE_MAIN_MARKER


@dataclass
class Ctx:
    bucket: Path
    base: str
    server: FaultServer | None
    destdir: Path
    tmp: Path
    work: Path
    key: Path
    other_key: Path
    build: Path


@dataclass
class Case:
    id: str
    args: Callable[[Ctx], list[str]]
    code: int
    installed: bool
    http: bool = True
    signed: bool = False
    setup: Callable[[Ctx], None] | None = None
    env: Callable[[Ctx], dict[str, str]] | None = None
    check: Callable[[Ctx, subprocess.CompletedProcess[str]], None] | None = None
    revision: str = TAG
    signatures: bool = False   # about the default signature policy: run_get adds no skip flag


def url(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["-a", "amd64", "-m", c.base, *extra]


def write(path: str, text: str | bytes) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        target = c.bucket / path
        target.write_bytes(text.encode() if isinstance(text, str) else text)
    return setup


def fault(path: str, kind: str, times: int | None = 1) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        assert c.server is not None
        c.server.fault(path, kind, times)
    return setup


def both(*setups: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        for s in setups:
            s(c)
    return setup


def hostile(kind: str) -> Callable[[Ctx], None]:
    def setup(c: Ctx) -> None:
        target = c.bucket / object_path(tarball_name("amd64", TAG))
        hostile_tarball(target, kind, TAG)
    return setup


def no_tarball_request(c: Ctx, _result: subprocess.CompletedProcess[str]) -> None:
    assert c.server is not None
    assert c.server.hits(TARBALL) == 0


def plan_printed(c: Ctx, result: subprocess.CompletedProcess[str]) -> None:
    assert f"revision: {TAG}" in result.stdout
    assert f"{c.base}{TARBALL}" in result.stdout
    assert "DESTDIR=" in result.stdout
    no_tarball_request(c, result)


def downloaded(c: Ctx, _result: subprocess.CompletedProcess[str]) -> None:
    name = tarball_name("amd64", TAG)
    got = c.work / "offline"
    assert sorted(p.name for p in got.iterdir()) == sorted([name, name + ".sha256sum", manifest_name(TAG)])
    assert (got / name).read_bytes() == (c.build / name).read_bytes()


def resumed(c: Ctx, _result: subprocess.CompletedProcess[str]) -> None:
    assert c.server is not None
    ranges = [r for p, r, _f in c.server.requests if p == TARBALL and r]
    assert ranges and ranges[0] != "bytes=0-", "the retry did not resume from the bytes already received"


CASES: list[Case] = [
    # Resolution and happy paths
    Case("file-main-marker", url(), 0, True, revision=SHA, http=False),
    Case("http-main-marker", url(), 0, True, revision=SHA),
    Case("http-minor-marker", url("-t", "v1.21"), 0, True),
    Case("http-tag", url("-t", TAG), 0, True),
    Case("http-sha-any-case", url("-t", SHA.upper()), 0, True, revision=SHA),
    Case("long-options", lambda c: ["--arch=x86_64", "--url", c.base, "--tag", TAG], 0, True),
    Case("local-file", lambda c: ["-f", str(c.bucket / object_path(tarball_name("amd64", TAG)))], 0, True,
         http=False),
    Case("download-only", url("-t", TAG, "-d", "{offline}"), 0, False, check=downloaded),
    Case("dry-run", url("-t", "v1.21", "-n"), 0, False, check=plan_printed),
    # Transient faults end in a good install
    Case("reset-mid-body", url("-t", TAG), 0, True, setup=fault(TARBALL, "reset")),
    Case("truncated-then-ok", url("-t", TAG), 0, True, setup=fault(TARBALL, "truncate"), check=resumed),
    Case("5xx-then-ok", url(), 0, True, revision=SHA,
         setup=both(fault(f"/{DEFAULT_MARKER}", "status:500"), fault(SHA_TARBALL, "status:503", 2))),
    Case("stall-then-ok", url("-t", TAG), 0, True, setup=fault(TARBALL, "stall"),
         env=lambda c: {"CRIO_GET_TIMEOUT": "1"}),
    Case("no-range-support", url("-t", TAG), 0, True,
         setup=both(fault(TARBALL, "truncate"), fault(TARBALL, "ignore_range"))),
    # Permanent faults: the right code, nothing installed
    Case("always-truncated", url("-t", TAG), ExitCode.DOWNLOAD, False, setup=fault(TARBALL, "truncate", None)),
    Case("always-503", url("-t", TAG), ExitCode.DOWNLOAD, False, setup=fault(TARBALL, "status:503", None)),
    Case("always-stalled", url("-t", TAG), ExitCode.DOWNLOAD, False, setup=fault(TARBALL, "stall", None),
         env=lambda c: {"CRIO_GET_RETRIES": "1", "CRIO_GET_TIMEOUT": "1"}),
    Case("marker-always-503", url(), ExitCode.RESOLUTION, False,
         setup=fault(f"/{DEFAULT_MARKER}", "status:503", None)),
    Case("html-404-markers", url(), ExitCode.RESOLUTION, False,   # a 404 of the first is a fallback: both absent
         setup=both(fault(f"/{DEFAULT_MARKER}", "html404", None), fault("/latest-main.txt", "html404", None))),
    Case("html-200-marker", url(), ExitCode.RESOLUTION, False, setup=fault(f"/{DEFAULT_MARKER}", "html200", None)),
    Case("empty-marker", url(), ExitCode.RESOLUTION, False, setup=write(DEFAULT_MARKER, "\n")),
    Case("garbage-marker", url(), ExitCode.RESOLUTION, False, setup=write(DEFAULT_MARKER, "stable\n")),
    Case("huge-marker", url(), ExitCode.RESOLUTION, False, setup=write(DEFAULT_MARKER, "v" * (2 << 20))),
    Case("huge-checksum", url("-t", TAG), ExitCode.DOWNLOAD, False,
         setup=write(object_path(checksum_name("amd64", TAG)), "0" * (2 << 20))),
    Case("marker-wrong-series", url("-t", "v1.21"), ExitCode.RESOLUTION, False,
         setup=write("latest-1.21.txt", "v1.22.0\n")),
    Case("marker-without-tarball", url(), ExitCode.RESOLUTION, False, setup=write(DEFAULT_MARKER, "f" * 40 + "\n")),
    Case("missing-marker", url("-t", "v1.30"), ExitCode.RESOLUTION, False),
    Case("arch-not-published", lambda c: ["-a", "s390x", "-m", c.base, "-t", TAG], ExitCode.RESOLUTION, False),
    Case("wrong-checksum", url("-t", TAG), ExitCode.VERIFICATION, False,
         setup=write(object_path(checksum_name("amd64", TAG)), "0" * 64 + "  " + tarball_name("amd64", TAG) + "\n")),
    Case("checksum-names-other-file", url("-t", TAG), ExitCode.VERIFICATION, False,
         setup=write(object_path(checksum_name("amd64", TAG)), "0" * 64 + "  other.tar.gz\n")),
    Case("local-file-bad-checksum",
         lambda c: ["-f", str(c.bucket / object_path(tarball_name("amd64", TAG)))], ExitCode.VERIFICATION, False,
         http=False, setup=write(object_path(checksum_name("amd64", TAG)), "1" * 64 + "  "
                                 + tarball_name("amd64", TAG) + "\n")),
    # Signatures
    Case("signed-with-key", lambda c: [*url("-t", TAG)(c), "-k", str(c.key)], 0, True, signed=True),
    Case("signed-key-from-env", url("-t", TAG), 0, True, signed=True, env=lambda c: {"CRIO_VERIFY_KEY": str(c.key)}),
    Case("signed-without-key", url("-t", TAG), ExitCode.VERIFICATION, False, signed=True, signatures=True),
    Case("signed-skip-flag", url("-t", TAG, "--insecure-skip-signature-verification"), 0, True, signed=True),
    Case("signed-wrong-key", lambda c: [*url("-t", TAG)(c), "-k", str(c.other_key)], ExitCode.VERIFICATION, False,
         signed=True),
    Case("signature-tampered", lambda c: [*url("-t", TAG)(c), "-k", str(c.key)], ExitCode.VERIFICATION, False,
         signed=True, setup=write(object_path(signature_name("amd64", TAG)), "MEUCIQ==\n")),
    Case("key-but-signature-missing", lambda c: [*url("-t", TAG)(c), "-k", str(c.key)], ExitCode.VERIFICATION,
         False),
    # Usage errors, before anything is fetched
    Case("help", lambda c: ["-h"], 0, False),
    Case("bad-revision", url("-t", "1.2.3.4"), ExitCode.USAGE, False),
    Case("short-sha", url("-t", "0123abc"), ExitCode.USAGE, False),
    Case("bad-arch", lambda c: ["-a", "sparc64", "-m", c.base], ExitCode.UNSUPPORTED_ARCH, False),
    Case("bad-bucket", lambda c: ["-a", "amd64", "-b", "Not_A_Bucket!"], ExitCode.USAGE, False, http=False),
    Case("bucket-and-url", lambda c: ["-b", "cri-o", "-m", c.base], ExitCode.USAGE, False),
    Case("unknown-option", lambda c: ["--frobnicate"], ExitCode.USAGE, False),
    Case("relative-destdir", url("-t", TAG), ExitCode.USAGE, False, env=lambda c: {"DESTDIR": "relative/dir"}),
    Case("bad-timeout", url("-t", TAG), ExitCode.USAGE, False, env=lambda c: {"CRIO_GET_TIMEOUT": "soon"}),
    Case("unreadable-key", lambda c: [*url("-t", TAG)(c), "-k", "/nonexistent.pem"], ExitCode.USAGE, False),
    # Hostile tarballs (valid checksum): refused, nothing written
    *[Case(f"hostile-{kind}", url("-t", TAG), ExitCode.VERIFICATION, False, setup=hostile(kind),
           env=lambda c: {"CRIO_GET_MAX_BYTES": str(10 * 1024 * 1024)})
      for kind in ("dotdot", "absolute", "symlink", "symlink_abs", "hardlink", "device", "fifo", "setuid",
                   "duplicate", "second_top", "bomb")],
]


def _expected_crio_status(bucket: Path, revision: str) -> bytes:
    with tarfile.open(bucket / object_path(tarball_name("amd64", revision))) as tf:
        member = tf.extractfile("cri-o/bin/crio-status")
        assert member is not None
        return member.read()


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_outcome(case: Case, installer: str, published, tmp_path: Path) -> None:
    bucket = copy_bucket(published.signed if case.signed else published.plain, tmp_path / "bucket")
    destdir = tmp_path / "dest"
    destdir.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = FaultServer(bucket).__enter__() if case.http else None
    try:
        ctx = Ctx(bucket, server.url if server else bucket.as_uri(), server, destdir, tmp, tmp_path,
                  published.public_key, published.other_public_key, published.build)
        if case.setup:
            case.setup(ctx)
        args = [a.replace("{offline}", str(tmp_path / "offline")) for a in case.args(ctx)]
        result = run_get(installer, args, destdir=destdir, tmpdir=tmp, env=case.env(ctx) if case.env else None,
                         signatures=case.signatures)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    detail = f"{installer} {args}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == case.code, detail
    if case.code:
        errors = [line for line in result.stderr.splitlines() if line.startswith(("crio-get: error:", "Error:"))]
        assert len(errors) == 1, detail
    record = destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD
    if case.installed:
        assert record.is_file(), detail
        installed = destdir / "usr/local/bin/crio-status"
        assert installed.read_bytes() == _expected_crio_status(
            published.signed if case.signed else published.plain, case.revision), detail
        assert installed.stat().st_mode & 0o111
        assert not (destdir / INSTALL_STATE_DIR.lstrip("/") / "transaction").exists()
    else:
        assert snapshot(destdir) == {}, f"DESTDIR was written: {sorted(snapshot(destdir))}\n{detail}"
    assert list(tmp.iterdir()) == [], f"stray files in TMPDIR: {list(tmp.iterdir())}\n{detail}"
    for escaped in ("/crio-get-escaped", "/tmp/crio-get-escaped", str(tmp_path / "escaped")):
        assert not Path(escaped).exists()
    if case.check:
        case.check(ctx, result)
    if case.id == "help":
        for code in ExitCode:
            if code <= ExitCode.NOT_ROOT:
                assert f"{int(code)} " in result.stdout
