"""Binding and downgrades under attack: a hostile mirror swaps, replays and relabels signed artifacts.

Buckets are real publisher output: bundles from the builder (v1.21.0 and v1.21.1; two commits of a
real git repository on main, built at an older and a newer time), signed by `crio-release sign`,
published by `crio-release publish --key` (which signs the markers it moves). Before the newer
revisions are published, the older markers and their signatures are kept: what a mirror can replay.
Every case runs under scripts/get and crio-get and must end the same way.
"""

from __future__ import annotations

import fcntl
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
    arch_files,
    checksum_name,
    manifest_name,
    manifest_signature_name,
    marker_signature_name,
    object_path,
    signature_name,
    tag_marker,
    tarball_name,
)
from crio.checksums import format_sha256sum, sha256_file
from crio.downgrade import installed_state
from crio.errors import ExitCode
from crio.manifest import RevisionManifest, build_revision_manifest, write_revision_manifest
from crio.record import parse_record
from crio.revision import parse_revision
from crio.signed_marker import parse_marker_signature
from crio.signing import generate_keypair, sign_file

OLD, NEW = "v1.21.0", "v1.21.1"
T_OLD, T_NEW = 1_700_000_000, 1_700_500_000
MINOR = tag_marker("1.21")   # latest-1.21.txt


@dataclass(frozen=True)
class World:
    signed: Path                 # OLD, NEW, sha_old, sha_new signed; markers signed (latest-1.21.txt, latest-main.txt)
    plain: Path                  # the same revisions unsigned (revision manifests present, no .sig anywhere)
    old_signed: dict[str, bytes]  # bucket path -> bytes of the markers and signatures before NEW and sha_new
    old_plain: dict[str, bytes]
    builds: dict[str, Path]      # unsigned builder output per revision
    key: Path
    other_private: bytes
    private: bytes
    sha_old: str
    sha_new: str


def _commits(repo: Path) -> tuple[str, str]:
    """Two commits, the second a child of the first: what orders latest-main.txt for the publisher."""
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    shas = []
    for message in ("older", "newer"):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
        shas.append(subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                                   text=True).stdout.strip())
    return shas[0], shas[1]


def _build_world(root: Path) -> None:
    """Build, sign and publish everything into `root` (keys, repository, builds, buckets, older markers)."""
    private, public = generate_keypair()
    other_private, _ = generate_keypair()
    (root / "key.pub").write_bytes(public)
    (root / "key.pem").write_bytes(private)
    (root / "other.pem").write_bytes(other_private)
    repo = root / "repo"
    shas = _commits(repo)
    (root / "shas").write_text(" ".join(shas))
    for generation in ((OLD, T_OLD, None), (shas[0], T_OLD, "main")), ((NEW, T_NEW, None), (shas[1], T_NEW, "main")):
        for rev, epoch, branch in generation:
            build = root / f"build-{rev}"
            make_embedded_bundles(build, rev, source_date_epoch=epoch)
            (root / "plain").mkdir(exist_ok=True)
            publish_revision((root / "plain").as_uri(), parse_revision(rev), build, branch=branch, repo=repo)
            signed_build = shutil.copytree(build, root / f"signed-{rev}")
            sign_revision(signed_build, parse_revision(rev), private)
            (root / "signed").mkdir(exist_ok=True)
            publish_revision((root / "signed").as_uri(), parse_revision(rev), signed_build, branch=branch,
                             repo=repo, signing_key=private)
        for kind in ("plain", "signed"):
            if not (root / f"old-{kind}").exists():
                (root / f"old-{kind}").mkdir()
                for marker in (root / kind).glob("latest-*"):
                    shutil.copyfile(marker, root / f"old-{kind}" / marker.name)


def _load_world(root: Path) -> World:
    def files(directory: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in directory.iterdir()}

    sha_old, sha_new = (root / "shas").read_text().split()
    return World(root / "signed", root / "plain", files(root / "old-signed"), files(root / "old-plain"),
                 {rev: root / f"build-{rev}" for rev in (OLD, NEW, sha_old, sha_new)}, root / "key.pub",
                 (root / "other.pem").read_bytes(), (root / "key.pem").read_bytes(), sha_old, sha_new)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> World:
    """Built once per test run: xdist workers share it (the first builds it under a lock, the rest read it)."""
    if worker_id == "master":
        root = tmp_path_factory.mktemp("attack")
        _build_world(root)
        return _load_world(root)
    root = tmp_path_factory.getbasetemp().parent / "attack-binding-world"
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            _build_world(root)
            (root / "done").touch()
    return _load_world(root)


@dataclass
class Mirror:
    bucket: Path
    server: FaultServer

    def put(self, path: str, data: bytes | Path) -> None:
        (self.bucket / path).write_bytes(data.read_bytes() if isinstance(data, Path) else data)

    def put_if_there(self, path: str, source: Path) -> None:
        """Copy a file the mirror has (signatures exist only in the signed bucket)."""
        if source.exists():
            self.put(path, source)

    def remove(self, path: str) -> None:
        (self.bucket / path).unlink()

    def tarball_hits(self, revision: str, arch: str = "amd64") -> int:
        return self.server.hits("/" + object_path(tarball_name(arch, revision)))


@pytest.fixture
def mirror(world: World, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Mirror]:
    """A private copy of the signed bucket (or the plain one, with @pytest.mark.plain) served over HTTP."""
    source = world.plain if request.node.get_closest_marker("plain") else world.signed
    bucket = copy_bucket(source, tmp_path / "bucket")
    with FaultServer(bucket) as server:
        yield Mirror(bucket, server)


def get(installer: str, mirror: Mirror | None, tmp_path: Path, *args: str,
        key: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One run into tmp_path/dest from the mirror (None: no -m); TMPDIR must be left empty."""
    tmp = tmp_path / "tmp"
    argv = ["-a", "amd64", *(["-m", mirror.server.url] if mirror else []), *args, *(["-k", str(key)] if key else [])]
    result = run_get(installer, argv, destdir=tmp_path / "dest", tmpdir=tmp)
    assert list(tmp.iterdir()) == [], f"stray files in TMPDIR: {list(tmp.iterdir())}"
    return result


def refused(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    detail = f"stdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == code, detail
    errors = [line for line in result.stderr.splitlines() if line.startswith(("crio-get: error:", "Error:"))]
    assert len(errors) == 1 and message in errors[0], detail


def record_meta(destdir: Path) -> dict[str, str]:
    return parse_record((destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_text()).meta


def installed_revision(destdir: Path) -> str:
    return record_meta(destdir)["revision"]


def artifact(revision: str, role: str, arch: str = "amd64") -> str:
    return object_path(arch_files(arch, revision)[role])


def rewrite_checksum(mirror: Mirror, revision: str, arch: str = "amd64") -> None:
    """A mirror's own .sha256sum for whatever bytes it now serves under the name."""
    name = tarball_name(arch, revision)
    digest = sha256_file(mirror.bucket / object_path(name))
    mirror.put(object_path(checksum_name(arch, revision)), format_sha256sum(digest, name).encode())


# --- swapped tarballs, manifests and markers: refused with a key -------------------------------------------

def swap_other_revision(m: Mirror, w: World) -> None:
    """v1.21.0's validly signed amd64 tarball (and its .sig) served as v1.21.1's."""
    m.put(artifact(NEW, "tarball"), m.bucket / artifact(OLD, "tarball"))
    m.put_if_there(artifact(NEW, "signature"), m.bucket / artifact(OLD, "signature"))
    rewrite_checksum(m, NEW)


def swap_other_revision_and_manifest(m: Mirror, w: World) -> None:
    swap_other_revision(m, w)
    m.put(object_path(manifest_name(NEW)), m.bucket / object_path(manifest_name(OLD)))
    m.put(object_path(manifest_signature_name(NEW)), m.bucket / object_path(manifest_signature_name(OLD)))


def swap_other_arch(m: Mirror, w: World) -> None:
    """v1.21.1's validly signed arm64 tarball served as its amd64 one."""
    m.put(artifact(NEW, "tarball"), m.bucket / artifact(NEW, "tarball", "arm64"))
    m.put_if_there(artifact(NEW, "signature"), m.bucket / artifact(NEW, "signature", "arm64"))
    rewrite_checksum(m, NEW)


def swap_bytes_only(m: Mirror, w: World) -> None:
    """Other bytes under the name; the genuine .sha256sum and .sig left as they were."""
    m.put(artifact(NEW, "tarball"), m.bucket / artifact(OLD, "tarball"))


def older_under_newer_marker(m: Mirror, w: World) -> None:
    m.put(MINOR, f"{OLD}\n".encode())


def marker_signed_for_another_channel(m: Mirror, w: World) -> None:
    """latest-bundle-main.txt (read by default) may name any revision; here v1.21.1 with latest-1.21.txt's
    genuine signature."""
    m.put(BUNDLE_MAIN_MARKER, f"{NEW}\n".encode())
    m.put(marker_signature_name(BUNDLE_MAIN_MARKER), m.bucket / marker_signature_name(MINOR))


def marker_unsigned(m: Mirror, w: World) -> None:
    m.remove(marker_signature_name(MINOR))


def manifest_missing(m: Mirror, w: World) -> None:
    m.remove(object_path(manifest_name(NEW)))


def manifest_unsigned(m: Mirror, w: World) -> None:
    m.remove(object_path(manifest_signature_name(NEW)))


def manifest_signed_by_another_key(m: Mirror, w: World) -> None:
    path = m.bucket / object_path(manifest_name(NEW))
    m.put(object_path(manifest_signature_name(NEW)), sign_file(path, w.other_private))


def manifest_rewritten(m: Mirror, w: World) -> None:
    """The mirror lists its swapped tarball in the manifest; the manifest's signature no longer verifies."""
    swap_other_revision(m, w)
    path = m.bucket / object_path(manifest_name(NEW))
    manifest = RevisionManifest.from_json(path.read_bytes())
    manifest.files = [f if f.name != tarball_name("amd64", NEW) else
                      type(f)(f.name, f.arch, f.role, f.size, sha256_file(m.bucket / artifact(NEW, "tarball")))
                      for f in manifest.files]
    path.write_text(manifest.to_json())


SWAPS = [
    # (id, attack, args, message): every one is refused before the tarball is downloaded, but swap-bytes-only
    ("other-revision", swap_other_revision, ["-t", NEW], "the revision manifest says"),
    ("other-revision-with-its-manifest", swap_other_revision_and_manifest, ["-t", NEW],
     f"the revision manifest is for {OLD}, not the requested {NEW}"),
    ("other-arch", swap_other_arch, ["-t", NEW], "the revision manifest says"),
    ("swap-bytes-only", swap_bytes_only, ["-t", NEW], "sha256 mismatch"),
    ("older-build-under-newer-marker", older_under_newer_marker, ["-t", "v1.21"],
     f"{MINOR} names {OLD} but its signature is for {NEW}"),
    ("marker-signed-for-another-channel", marker_signed_for_another_channel, [],
     f"is signed for {MINOR}, not {BUNDLE_MAIN_MARKER}"),
    ("marker-unsigned", marker_unsigned, ["-t", "v1.21"], f"marker {MINOR} is not signed"),
    ("manifest-missing", manifest_missing, ["-t", NEW], f"revision manifest {manifest_name(NEW)} is not published"),
    ("manifest-unsigned", manifest_unsigned, ["-t", NEW], f"revision manifest {manifest_name(NEW)} is not signed"),
    ("manifest-other-key", manifest_signed_by_another_key, ["-t", NEW], "does not verify with the trusted key"),
    ("manifest-rewritten", manifest_rewritten, ["-t", NEW], "does not verify with the trusted key"),
]


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("attack", "args", "message"), [s[1:] for s in SWAPS], ids=[s[0] for s in SWAPS])
def test_a_swap_is_refused_with_a_key(installer: str, attack, args: list[str], message: str, world: World,
                                      mirror: Mirror, tmp_path: Path) -> None:
    attack(mirror, world)
    refused(get(installer, mirror, tmp_path, *args, key=world.key), ExitCode.VERIFICATION, message)
    assert snapshot(tmp_path / "dest") == {}
    if attack is not swap_bytes_only:
        assert mirror.tarball_hits(NEW) == mirror.tarball_hits(OLD) == 0, "refused only after downloading"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_genuine_bucket_installs_with_a_key(installer: str, world: World, mirror: Mirror, tmp_path: Path) -> None:
    """The control for the swaps: the same mirror untouched installs NEW through its marker."""
    result = get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key)
    assert result.returncode == 0, result.stderr
    assert f"marker signature verified: {MINOR} names {NEW}" in result.stderr
    assert "revision manifest (signature verified)" in result.stderr
    assert f"the bundle names {NEW} (amd64)" in result.stderr
    assert installed_revision(tmp_path / "dest") == NEW


def _mislabelled_bucket(world: World, tmp_path: Path, source: str, source_arch: str) -> Path:
    """A set of NEW signed and published by the real tools whose amd64 tarball holds another bundle (a builder bug)."""
    build = shutil.copytree(world.builds[NEW], tmp_path / "build")
    shutil.copyfile(world.builds[source] / tarball_name(source_arch, source), build / tarball_name("amd64", NEW))
    name = tarball_name("amd64", NEW)
    (build / checksum_name("amd64", NEW)).write_text(format_sha256sum(sha256_file(build / name), name))
    rev = parse_revision(NEW)
    write_revision_manifest(build, build_revision_manifest(build, rev, ["amd64", "arm64"], "1.21.1", T_NEW))
    sign_revision(build, rev, world.private)
    bucket = tmp_path / "mislabelled"
    bucket.mkdir()
    publish_revision(bucket.as_uri(), rev, build, signing_key=world.private)
    return bucket


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("source", "source_arch", "message"), [
    (NEW, "arm64", "the bundle's manifest.json names arch arm64, not the requested amd64"),
    (OLD, "amd64", f"the bundle's manifest.json names revision {OLD}, not the requested {NEW}"),
], ids=["arm64-bundle-signed-as-amd64", "older-bundle-signed-as-newer"])
def test_a_signed_bundle_that_names_another_revision_or_arch_is_refused(
        installer: str, source: str, source_arch: str, message: str, world: World, tmp_path: Path) -> None:
    bucket = _mislabelled_bucket(world, tmp_path, source, source_arch)
    with FaultServer(bucket) as server:
        result = get(installer, Mirror(bucket, server), tmp_path, "-t", NEW, key=world.key)
    refused(result, ExitCode.VERIFICATION, message)
    assert snapshot(tmp_path / "dest") == {}


# --- downgrades -----------------------------------------------------------------------------------------

def serve_old_markers(mirror: Mirror, old: dict[str, bytes]) -> None:
    """The mirror replays the markers (and signatures) of the time before NEW was published."""
    for name, data in old.items():
        mirror.put(name, data)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_older_revision_through_a_marker_is_refused_unless_allowed(installer: str, world: World, mirror: Mirror,
                                                                      tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, mirror, tmp_path, "-t", NEW, key=world.key).returncode == 0
    before = snapshot(dest)
    serve_old_markers(mirror, world.old_signed)
    result = get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key)
    refused(result, ExitCode.DOWNGRADE, f"{MINOR} names {OLD}, which is older than the installed {NEW}")
    assert snapshot(dest) == before, "a refused downgrade changed DESTDIR"
    assert mirror.tarball_hits(OLD) == 0
    result = get(installer, mirror, tmp_path, "-t", "v1.21", "--allow-downgrade", key=world.key)
    assert result.returncode == 0, result.stderr
    assert "WARNING: downgrading from v1.21.1 to v1.21.0 (--allow-downgrade)" in result.stderr
    assert record_meta(dest)["revision"] == OLD and record_meta(dest)["channel"] == MINOR


@pytest.mark.parametrize("installer", INSTALLERS)
def test_naming_the_older_revision_installs_it(installer: str, world: World, mirror: Mirror, tmp_path: Path) -> None:
    assert get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key).returncode == 0
    result = get(installer, mirror, tmp_path, "-t", OLD, key=world.key)
    assert result.returncode == 0, result.stderr
    assert record_meta(tmp_path / "dest")["revision"] == OLD and record_meta(tmp_path / "dest")["channel"] == "-t"


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_an_older_commit_is_told_by_its_build_time(installer: str, signed: bool, world: World, tmp_path: Path) -> None:
    """Commits do not order by name: the revision manifest's build time orders them (signed or not)."""
    bucket = copy_bucket(world.signed if signed else world.plain, tmp_path / "bucket")
    key = world.key if signed else None
    with FaultServer(bucket) as server:
        mirror = Mirror(bucket, server)
        assert get(installer, mirror, tmp_path, "-t", world.sha_new, key=key).returncode == 0
        assert record_meta(tmp_path / "dest")["build-time"] == str(T_NEW)
        serve_old_markers(mirror, world.old_signed if signed else world.old_plain)
        refused(get(installer, mirror, tmp_path, key=key), ExitCode.DOWNGRADE,
                f"{BUNDLE_MAIN_MARKER} names {world.sha_old}, which is older than the installed {world.sha_new}")
    assert installed_revision(tmp_path / "dest") == world.sha_new


@pytest.mark.plain
@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_older_tag_through_a_marker_is_refused_without_a_key_too(installer: str, world: World, mirror: Mirror,
                                                                    tmp_path: Path) -> None:
    assert get(installer, mirror, tmp_path, "-t", "v1.21").returncode == 0
    serve_old_markers(mirror, world.old_plain)
    refused(get(installer, mirror, tmp_path, "-t", "v1.21"), ExitCode.DOWNGRADE, "refusing to downgrade")


# --- replayed markers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_replayed_older_signed_marker_is_refused(installer: str, world: World, mirror: Mirror,
                                                   tmp_path: Path) -> None:
    """Installed through latest-1.21.txt; the mirror then replays that marker as it was signed before."""
    assert get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key).returncode == 0
    serve_old_markers(mirror, world.old_signed)
    result = get(installer, mirror, tmp_path, "-t", "v1.21", "--allow-downgrade", key=world.key)
    refused(result, ExitCode.VERIFICATION, "an older marker replayed")
    assert installed_revision(tmp_path / "dest") == NEW


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_upgrade_through_signed_markers_installs(installer: str, world: World, mirror: Mirror,
                                                    tmp_path: Path) -> None:
    """Older signed marker first, then the current one: the checks do not stand in the way of an upgrade."""
    current = {name: (mirror.bucket / name).read_bytes() for name in world.old_signed}
    serve_old_markers(mirror, world.old_signed)
    assert get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key).returncode == 0
    assert installed_revision(tmp_path / "dest") == OLD
    serve_old_markers(mirror, current)
    result = get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key)
    assert result.returncode == 0, result.stderr
    assert installed_revision(tmp_path / "dest") == NEW


# --- the record -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_record_keeps_revision_channel_build_time_and_marker_time(installer: str, world: World, mirror: Mirror,
                                                                      tmp_path: Path) -> None:
    assert get(installer, mirror, tmp_path, "-t", "v1.21", key=world.key).returncode == 0
    statement, _ = parse_marker_signature((mirror.bucket / marker_signature_name(MINOR)).read_bytes())
    meta = record_meta(tmp_path / "dest")
    assert len(meta.pop("install-script", "")) == 64  # the -U check's key (test_attack_state) sits beside these
    assert meta.pop("install-time").isdigit()           # --status's keys (test_verify_status) too
    assert meta.pop("signer").startswith("key-sha256:")
    assert meta == {"revision": NEW, "arch": "amd64", "channel": MINOR, "build-time": str(T_NEW),
                    "marker-published": str(statement.published)}
    record = (tmp_path / "dest" / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_bytes()
    assert installed_state(record).revision == NEW


# --- without a key ---------------------------------------------------------------------------------------

@pytest.mark.plain
@pytest.mark.parametrize("installer", INSTALLERS)
def test_without_a_key_a_published_manifest_is_still_cross_checked(installer: str, world: World, mirror: Mirror,
                                                                   tmp_path: Path) -> None:
    swap_other_arch(mirror, world)   # the mirror also rewrote .sha256sum; nothing is signed
    refused(get(installer, mirror, tmp_path, "-t", NEW), ExitCode.VERIFICATION, "the revision manifest says")


@pytest.mark.plain
@pytest.mark.parametrize("installer", INSTALLERS)
def test_without_a_key_nothing_unchecked_is_called_verified(installer: str, world: World, mirror: Mirror,
                                                            tmp_path: Path) -> None:
    manifest_missing(mirror, world)
    result = get(installer, mirror, tmp_path, "-t", NEW)
    assert result.returncode == 0, result.stderr
    assert "WARNING: no revision manifest is published for v1.21.1" in result.stderr
    assert "WARNING: signature verification SKIPPED" in result.stderr   # signatures are required by default
    assert "signature verified" not in result.stderr and "verified by sha256" not in result.stderr


# --- offline: -d then -f ----------------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_download_keeps_what_a_later_local_install_checks(installer: str, world: World, mirror: Mirror,
                                                            tmp_path: Path) -> None:
    offline = tmp_path / "offline"
    assert get(installer, mirror, tmp_path, "-t", NEW, "-d", str(offline), key=world.key).returncode == 0
    assert (offline / manifest_name(NEW)).is_file() and (offline / manifest_signature_name(NEW)).is_file()
    local = ["-f", str(offline / tarball_name("amd64", NEW))]
    result = get(installer, None, tmp_path, *local, key=world.key)
    assert result.returncode == 0, result.stderr
    assert record_meta(tmp_path / "dest")["channel"] == "-f"
    (offline / manifest_signature_name(NEW)).unlink()
    refused(get(installer, None, tmp_path, *local, key=world.key), ExitCode.VERIFICATION, "is not signed")


def test_signature_files_of_markers_were_written_by_the_publisher(world: World) -> None:
    """The fixture is what the tests think it is: both markers signed, the replayable ones older."""
    for marker in (MINOR, MAIN_MARKER, BUNDLE_MAIN_MARKER):
        now, _ = parse_marker_signature((world.signed / marker_signature_name(marker)).read_bytes())
        then, _ = parse_marker_signature(world.old_signed[marker_signature_name(marker)])
        assert now.marker == then.marker == marker and then.published < now.published
    assert not list(world.plain.glob("latest-*.sig"))
    assert (world.signed / object_path(signature_name("amd64", NEW))).is_file()
