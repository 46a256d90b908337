"""Upstream's flags and markers, both installers, one expected outcome (issue 13 items 2 and 3).

`-u` uninstalls (`-U` and `--uninstall` too), `-m URL` names a mirror (`--mirror`, `--url`), a run
without `-t` reads latest-bundle-main.txt and falls back to latest-main.txt only when that is
absent (then the bundle it names must be published), `-t release-1.Y` reads
latest-bundle-release-1.Y.txt, and with a key whichever marker was read must be signed for itself.
Buckets are real publisher output served by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crio_release.publish.publish import publish_revision
from crio_release.publish.sign import sign_revision
from helpers.bundles import make_embedded_bundles
from helpers.get_fixtures import INSTALLERS, copy_bucket, run_get, snapshot
from helpers.http_server import FaultServer

from crio.artifacts import (
    BUNDLE_MAIN_MARKER,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    MAIN_MARKER,
    checksum_name,
    marker_signature_name,
    object_path,
    release_branch_bundle_marker,
    release_branch_marker,
    tarball_name,
)
from crio.errors import ExitCode
from crio.record import parse_record
from crio.revision import parse_revision
from crio.signing import generate_keypair

TAG = "v1.21.0"
SHA = "0123456789abcdef0123456789abcdef01234567"
UNPUBLISHED = "f" * 40       # a commit whose bundle was never uploaded
TARBALL = "/" + object_path(tarball_name("amd64", SHA))
RELEASE = "release-1.21"


@dataclass
class Mirror:
    bucket: Path
    server: FaultServer

    @property
    def url(self) -> str:
        return self.server.url

    def write(self, name: str, text: str) -> None:
        (self.bucket / name).write_text(text)

    def remove(self, *names: str) -> None:
        for name in names:
            (self.bucket / name).unlink()

    def requested(self, name: str) -> bool:
        return self.server.hits("/" + name) > 0


@pytest.fixture
def mirror(published, tmp_path: Path) -> Iterator[Mirror]:
    """A private copy of the plain bucket (TAG; SHA on main, so latest-main.txt and latest-bundle-main.txt)."""
    bucket = copy_bucket(published.plain, tmp_path / "bucket")
    with FaultServer(bucket) as server:
        yield Mirror(bucket, server)


@dataclass(frozen=True)
class Signed:
    bucket: Path
    key: Path


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """SHA published on main with a key: tarballs, revision manifest and every marker it moves signed."""
    root = tmp_path_factory.mktemp("flags-signed")
    private, public = generate_keypair()
    (root / "key.pub").write_bytes(public)
    build = root / "build"
    make_embedded_bundles(build, SHA)
    sign_revision(build, parse_revision(SHA), private)
    (root / "bucket").mkdir()
    publish_revision((root / "bucket").as_uri(), parse_revision(SHA), build, branch="main", signing_key=private)
    return Signed(root / "bucket", root / "key.pub")


def get(installer: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tmp = tmp_path / "tmp"
    result = run_get(installer, list(args), destdir=tmp_path / "dest", tmpdir=tmp)
    assert list(tmp.iterdir()) == [], f"stray files in TMPDIR: {list(tmp.iterdir())}"
    return result


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"


def refused(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    detail = f"stdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == code, detail
    errors = [line for line in result.stderr.splitlines() if line.startswith(("crio-get: error:", "Error:"))]
    assert len(errors) == 1 and message in errors[0], detail


def installed(tmp_path: Path) -> dict[str, str]:
    """The install record's metadata (revision, channel, ...)."""
    return parse_record((tmp_path / "dest" / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_text()).meta


def files(root: Path) -> set[str]:
    return {path for path, (kind, _, _) in snapshot(root).items() if kind != "dir"}


# --- flags ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("flag", ["-u", "-U", "--uninstall"])
def test_u_uninstalls(installer: str, flag: str, published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "usr/local/bin").mkdir(parents=True)
    (dest / "usr/local/bin/kubelet").write_bytes(b"not ours")
    ok(get(installer, tmp_path, "-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG))
    assert len(files(dest)) > 10
    ok(get(installer, tmp_path, flag))
    assert files(dest) == {"usr/local/bin/kubelet"}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_u_without_an_installation_is_an_install_error_not_a_usage_error(installer: str, tmp_path: Path) -> None:
    """`get -u` typed from upstream's docs reaches the uninstaller (it used to want a URL: exit 2)."""
    refused(get(installer, tmp_path, "-u"), ExitCode.INSTALL, "no installation recorded")


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("spelling", ["-m", "--mirror", "--mirror=", "--url"])
def test_a_mirror_by_every_spelling(installer: str, spelling: str, mirror: Mirror, tmp_path: Path) -> None:
    option = [spelling + mirror.url] if spelling.endswith("=") else [spelling, mirror.url]
    ok(get(installer, tmp_path, "-a", "amd64", *option, "-t", TAG))
    assert mirror.server.hits("/" + object_path(tarball_name("amd64", TAG))) == 1
    assert installed(tmp_path)["revision"] == TAG


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("args", [["-m"], ["-b", "cri-o", "-m", "file:///x"], ["-m", "ftp://mirror/x"]],
                         ids=["no-value", "with-bucket", "bad-scheme"])
def test_mirror_usage_errors(installer: str, args: list[str], tmp_path: Path) -> None:
    result = get(installer, tmp_path, "-a", "amd64", *args)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert snapshot(tmp_path / "dest") == {}


# --- markers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_default_reads_latest_bundle_main(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    """latest-main.txt may already name a commit without a bundle: it is not even read."""
    mirror.write(MAIN_MARKER, UNPUBLISHED + "\n")
    ok(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url))
    assert (installed(tmp_path)["revision"], installed(tmp_path)["channel"]) == (SHA, BUNDLE_MAIN_MARKER)
    assert not mirror.requested(MAIN_MARKER)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_latest_main_is_read_when_the_bundle_marker_is_absent(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    mirror.remove(BUNDLE_MAIN_MARKER)
    result = get(installer, tmp_path, "-a", "amd64", "-m", mirror.url)
    ok(result)
    assert f"marker {BUNDLE_MAIN_MARKER} not found" in result.stderr and f"reading {MAIN_MARKER}" in result.stderr
    assert (installed(tmp_path)["revision"], installed(tmp_path)["channel"]) == (SHA, MAIN_MARKER)
    assert mirror.server.hits("/" + object_path(checksum_name("amd64", SHA))) >= 1


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("dry_run", [False, True], ids=["install", "dry-run"])
def test_the_fallback_is_refused_when_its_bundle_is_not_published(installer: str, dry_run: bool, mirror: Mirror,
                                                                   tmp_path: Path) -> None:
    mirror.remove(BUNDLE_MAIN_MARKER)
    mirror.write(MAIN_MARKER, UNPUBLISHED + "\n")
    result = get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, *(["-n"] if dry_run else []))
    refused(result, ExitCode.RESOLUTION,
            f"{MAIN_MARKER} names {UNPUBLISHED}, but its amd64 bundle is not published")
    assert "revision:" not in result.stdout
    assert mirror.requested(object_path(checksum_name("amd64", UNPUBLISHED)))
    assert not mirror.requested(object_path(tarball_name("amd64", UNPUBLISHED)))
    assert snapshot(tmp_path / "dest") == {}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_fallback_checks_the_requested_arch(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    """SHA is published for amd64 and arm64 only: latest-main.txt gives nothing for s390x."""
    mirror.remove(BUNDLE_MAIN_MARKER)
    refused(get(installer, tmp_path, "-a", "s390x", "-m", mirror.url), ExitCode.RESOLUTION,
            f"{MAIN_MARKER} names {SHA}, but its s390x bundle is not published")


@pytest.mark.parametrize("installer", INSTALLERS)
def test_neither_marker_is_a_resolution_error(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    mirror.remove(BUNDLE_MAIN_MARKER, MAIN_MARKER)
    refused(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url), ExitCode.RESOLUTION,
            f"neither marker {BUNDLE_MAIN_MARKER} nor {MAIN_MARKER} found")


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("fault", ["status:503", "html200"])
def test_only_an_absent_bundle_marker_falls_back(installer: str, fault: str, mirror: Mirror, tmp_path: Path) -> None:
    """A failing or garbled latest-bundle-main.txt is an error, never a reason to read the other marker."""
    mirror.server.fault("/" + BUNDLE_MAIN_MARKER, fault, None)
    refused(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url), ExitCode.RESOLUTION, BUNDLE_MAIN_MARKER)
    assert not mirror.requested(MAIN_MARKER)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_release_branch_reads_its_bundle_marker(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    mirror.write(release_branch_bundle_marker("1.21"), SHA + "\n")
    mirror.write(release_branch_marker("1.21"), UNPUBLISHED + "\n")
    ok(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", RELEASE))
    assert installed(tmp_path)["revision"] == SHA
    assert installed(tmp_path)["channel"] == "latest-bundle-release-1.21.txt"
    assert not mirror.requested(release_branch_marker("1.21"))


@pytest.mark.parametrize("installer", INSTALLERS)
def test_release_branch_falls_back_like_main(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    refused(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", RELEASE), ExitCode.RESOLUTION,
            "neither marker latest-bundle-release-1.21.txt nor latest-release-1.21.txt found")
    mirror.write(release_branch_marker("1.21"), UNPUBLISHED + "\n")
    refused(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", RELEASE), ExitCode.RESOLUTION,
            f"latest-release-1.21.txt names {UNPUBLISHED}, but its amd64 bundle is not published")
    mirror.write(release_branch_marker("1.21"), SHA + "\n")
    ok(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", RELEASE))
    assert installed(tmp_path)["channel"] == "latest-release-1.21.txt"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_minor_series_keeps_its_meaning(installer: str, mirror: Mirror, tmp_path: Path) -> None:
    ok(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", "v1.21"))
    assert (installed(tmp_path)["revision"], installed(tmp_path)["channel"]) == (TAG, "latest-1.21.txt")
    assert not mirror.requested(BUNDLE_MAIN_MARKER)


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("request_", ["release-x", "release-", "release-1.21.0", "release-01.21", "release-1"])
def test_a_bad_release_branch_is_a_usage_error(installer: str, request_: str, mirror: Mirror, tmp_path: Path) -> None:
    refused(get(installer, tmp_path, "-a", "amd64", "-m", mirror.url, "-t", request_), ExitCode.USAGE,
            "release-MAJOR.MINOR")
    assert mirror.server.requests == []


# --- signed markers: whichever marker was read ----------------------------------------------------

@pytest.fixture
def signed_mirror(signed: Signed, tmp_path: Path) -> Iterator[Mirror]:
    bucket = copy_bucket(signed.bucket, tmp_path / "bucket")
    with FaultServer(bucket) as server:
        yield Mirror(bucket, server)


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("fallback", [False, True], ids=["bundle-marker", "fallback"])
def test_a_key_verifies_the_marker_that_was_read(installer: str, fallback: bool, signed: Signed,
                                                 signed_mirror: Mirror, tmp_path: Path) -> None:
    marker = MAIN_MARKER if fallback else BUNDLE_MAIN_MARKER
    if fallback:
        signed_mirror.remove(BUNDLE_MAIN_MARKER, marker_signature_name(BUNDLE_MAIN_MARKER))
    result = get(installer, tmp_path, "-a", "amd64", "-m", signed_mirror.url, "-k", str(signed.key))
    ok(result)
    assert f"marker signature verified: {marker} names {SHA}" in result.stderr
    assert installed(tmp_path)["channel"] == marker and "marker-published" in installed(tmp_path)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_unsigned_fallback_is_refused_with_a_key(installer: str, signed: Signed, signed_mirror: Mirror,
                                                    tmp_path: Path) -> None:
    signed_mirror.remove(BUNDLE_MAIN_MARKER, marker_signature_name(BUNDLE_MAIN_MARKER),
                         marker_signature_name(MAIN_MARKER))
    refused(get(installer, tmp_path, "-a", "amd64", "-m", signed_mirror.url, "-k", str(signed.key)),
            ExitCode.VERIFICATION, f"marker {MAIN_MARKER} is not signed")
    assert snapshot(tmp_path / "dest") == {}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_other_markers_signature_does_not_do(installer: str, signed: Signed, signed_mirror: Mirror,
                                                 tmp_path: Path) -> None:
    """latest-main.txt's genuine statement (same revision) served as latest-bundle-main.txt's: another channel."""
    shutil.copyfile(signed_mirror.bucket / marker_signature_name(MAIN_MARKER),
                    signed_mirror.bucket / marker_signature_name(BUNDLE_MAIN_MARKER))
    refused(get(installer, tmp_path, "-a", "amd64", "-m", signed_mirror.url, "-k", str(signed.key)),
            ExitCode.VERIFICATION, f"is signed for {MAIN_MARKER}, not {BUNDLE_MAIN_MARKER}")
    assert not signed_mirror.requested(TARBALL.lstrip("/"))
