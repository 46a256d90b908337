"""Install in one write: the verified bundle is unpacked once, beside the destinations, and renamed into place.

Both installers, with the real in-bundle install script. What is observed from outside, with
real tools: a `cp` on PATH that logs its arguments shows that no payload file is copied (they
are renamed from the private staging directory under the state dir); the transaction's backup
of a replaced file is the replaced inode itself (a hard link, no second copy); and a `mv` on
PATH that kills the installer's whole process group (kill -9) at its N-th rename, for every N
a full install makes, leaves after recovery exactly the old installation or exactly the new
one, never a mix (ten points spread over the run, first and last included).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from crio_installer import transaction
from crio_installer.lock import RootLock
from helpers.bundle_install import install_env, make_bundle_tree, run_install
from helpers.get_fixtures import (
    INSTALLERS,
    installer_command,
    lay_out_bucket,
    run_get,
    snapshot,
)
from helpers.real_bundle import real_bundle_tarball

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR
from crio.errors import ExitCode

STATE = INSTALL_STATE_DIR.lstrip("/")
OLD, NEW = "v1.30.0", "v1.30.1"


def real_bundle(root: Path, revision: str) -> Path:
    """A tarball of the real install script and files, with a crio of its own."""
    return real_bundle_tarball(root, revision, {"bin/crio": f"#!/bin/sh\necho crio {revision}\n".encode() * 4096,
                                                "bin/pinns": f"pinns {revision}\n".encode()})


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-write")
    return lay_out_bucket(root / "bucket", [real_bundle(root, OLD), real_bundle(root, NEW)])


def args_for(bucket: Path, revision: str) -> list[str]:
    return ["-a", "amd64", "--url", bucket.as_uri(), "-t", revision, "--insecure-skip-signature-verification"]


def wrapper_bin(directory: Path, tool: str, body: str) -> Path:
    """A directory to put first on PATH holding `tool`: logs its arguments, runs `body`, then the real tool."""
    directory.mkdir(parents=True, exist_ok=True)
    real = shutil.which(tool)
    assert real is not None
    script = directory / tool
    script.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >>"{directory}/{tool}.log"\n{body}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return directory


def install(installer: str, bucket: Path, revision: str, dest: Path, tmp: Path,
            path_first: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{path_first}:{os.environ['PATH']}"} if path_first else {}
    return run_get(installer, args_for(bucket, revision), destdir=dest, tmpdir=tmp, env=env,
                   in_process=path_first is None, new_session=path_first is not None)


def without_lock(tree: dict[str, tuple[str, int, bytes]]) -> dict[str, tuple[str, int, bytes]]:
    """The tree without the lock file and previous/ (kept for --rollback: its journal names the paths of its own
    DESTDIR), and the record without its install time (two runs differ in it)."""
    out = {k: v for k, v in tree.items()
           if k != f"{STATE}/lock" and k != f"{STATE}/previous" and not k.startswith(f"{STATE}/previous/")}
    record = f"{STATE}/{INSTALL_RECORD}"
    if record in out:
        kind, mode, data = out[record]
        lines = [line for line in data.split(b"\n") if not line.startswith(b"#install-time\t")]
        out[record] = (kind, mode, b"\n".join(lines))
    return out


def recover(installer: str, dest: Path, tmp: Path) -> None:
    """What the next install or uninstall of either installer does first: recovery under the root's lock."""
    if installer == "python":
        sdir = transaction.state_dir(str(dest))
        with RootLock(sdir, sdir / INSTALL_RECORD, 5, print):
            transaction.recover(str(dest), print)
        return
    script = installer_command("bash")
    out = subprocess.run([*script, "--contract", "txn_recover", str(dest)], capture_output=True, text=True,
                         check=False, env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp)})
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_payload_files_are_renamed_into_place_not_copied(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    bin_dir = wrapper_bin(tmp_path / "wrap", "cp", "")
    for revision in (OLD, NEW):       # a fresh install, then one that replaces every file
        out = install(installer, bucket, revision, dest, tmp_path / "tmp", bin_dir)
        assert out.returncode == 0, out.stderr
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(f"#!/bin/sh\necho crio {NEW}".encode())
    copied = (bin_dir / "cp.log").read_text().splitlines() if (bin_dir / "cp.log").exists() else []
    assert not [line for line in copied if "/bin/crio" in line or "/bin/pinns" in line], copied
    moved = (bin_dir / "mv.log").read_text() if (bin_dir / "mv.log").exists() else ""
    assert not moved    # only cp was wrapped
    assert not list((dest / STATE).glob("staging.*")), "the staging directory is removed after the install"
    assert stat.S_IMODE((dest / "usr/local/bin/crio").stat().st_mode) == 0o755


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_backup_of_a_replaced_file_is_its_inode_not_a_copy(installer: str, bucket: Path,
                                                                tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert install(installer, bucket, OLD, dest, tmp_path / "t0").returncode == 0
    old_crio = (dest / "usr/local/bin/crio").stat()
    # Killed at the first rename of the install script: the journal and its backups are all there.
    bin_dir = wrapper_bin(tmp_path / "wrap", "mv", 'kill -KILL 0')
    install(installer, bucket, NEW, dest, tmp_path / "t1", bin_dir)
    journal = (dest / STATE / "transaction" / "journal").read_text().splitlines()
    index = next(line.split("\t")[1] for line in journal if line.endswith("/usr/local/bin/crio"))
    backup = (dest / STATE / "transaction" / "backup" / index).stat()
    assert (backup.st_dev, backup.st_ino) == (old_crio.st_dev, old_crio.st_ino)


def mv_calls(installer: str, bucket: Path, tmp_path: Path) -> int:
    """How many times a full OLD -> NEW upgrade runs mv (every point a kill is tried at)."""
    dest = tmp_path / "count-dest"
    assert install(installer, bucket, OLD, dest, tmp_path / "c0").returncode == 0
    bin_dir = wrapper_bin(tmp_path / "count", "mv", "")
    assert install(installer, bucket, NEW, dest, tmp_path / "c1", bin_dir).returncode == 0
    return len((bin_dir / "mv.log").read_text().splitlines())


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_kill_at_any_rename_leaves_the_old_or_the_new_installation(installer: str, bucket: Path,
                                                                     tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert install(installer, bucket, OLD, reference / "old", tmp_path / "r0").returncode == 0
    assert install(installer, bucket, OLD, reference / "new", tmp_path / "r1").returncode == 0
    assert install(installer, bucket, NEW, reference / "new", tmp_path / "r2").returncode == 0
    old, new = without_lock(snapshot(reference / "old")), without_lock(snapshot(reference / "new"))
    total = mv_calls(installer, bucket, tmp_path)
    assert total >= 8
    # Spread over the run: the first renames (staging), the middle (the commit), the last (the journal).
    points = sorted({1, 2, 3, total // 4, total // 2, total * 2 // 3, 3 * total // 4, total - 2, total - 1, total})
    outcomes = []
    for point in points:
        dest = tmp_path / f"dest-{point}"
        subprocess.run(["cp", "-a", str(reference / "old"), str(dest)], check=True)
        counter = tmp_path / f"count-{point}"
        body = (f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo "$n" >"{counter}"\n'
                f'if [ "$n" -eq {point} ]; then {shutil.which("mv")} "$@"; kill -KILL 0; fi')
        bin_dir = wrapper_bin(tmp_path / f"wrap-{point}", "mv", body)
        killed = install(installer, bucket, NEW, dest, tmp_path / f"b{point}", bin_dir)
        assert killed.returncode != 0, f"the kill at rename {point} of {total} did not happen"
        recover(installer, dest, tmp_path / f"c{point}")
        after = without_lock(snapshot(dest))
        assert after in (old, new), f"a mix after a kill at rename {point} of {total}"
        assert not list((dest / STATE).glob("staging.*"))
        outcomes.append("old" if after == old else "new")
    assert outcomes[0] == "old"
    if installer == "bash":     # its last rename discards the committed journal: the new installation stays
        assert outcomes[-1] == "new"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_failed_upgrade_restores_the_very_same_files(installer: str, bucket: Path, tmp_path: Path) -> None:
    """Rollback puts the old inodes back (link + rename): content, mode and mtime are exact."""
    dest = tmp_path / "dest"
    assert install(installer, bucket, OLD, dest, tmp_path / "t0").returncode == 0
    before = snapshot(dest)
    crio = dest / "usr/local/bin/crio"
    inode, mtime = crio.stat().st_ino, crio.stat().st_mtime_ns
    # The third rename of the upgrade fails (as on a full or read-only file system).
    counter = tmp_path / "count"
    body = (f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo "$n" >"{counter}"\n'
            'if [ "$n" -eq 3 ]; then echo "mv: cannot move: No space left on device" >&2; exit 1; fi')
    out = install(installer, bucket, NEW, dest, tmp_path / "t1", wrapper_bin(tmp_path / "wrap", "mv", body))
    assert out.returncode == ExitCode.INSTALL, out.stderr
    assert "previous installation is restored" in out.stderr
    assert snapshot(dest) == before
    assert (crio.stat().st_ino, crio.stat().st_mtime_ns) == (inode, mtime)


def path_without(directory: Path, missing: str) -> str:
    """A PATH of links to every tool of /usr/bin and /bin but `missing`."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in (Path("/usr/bin"), Path("/bin")):
        for tool in source.iterdir():
            if tool.name != missing and not (directory / tool.name).exists():
                (directory / tool.name).symlink_to(tool)
    return str(directory)


def test_without_openssl_scripts_get_hashes_each_file_while_unpacking(bucket: Path, tmp_path: Path) -> None:
    """With coreutils' sha256sum only (4x slower than openssl here), a second tar hashes the decompressed
    stream on the way, on the other core; the install script checks those sums against manifest.json
    instead of reading the files again."""
    dest = tmp_path / "dest"
    bin_dir = wrapper_bin(tmp_path / "wrap", "sha256sum", "")
    env = {"PATH": f"{bin_dir}:{path_without(tmp_path / 'no-openssl', 'openssl')}"}
    out = run_get("bash", args_for(bucket, NEW), destdir=dest, tmpdir=tmp_path / "tmp", env=env)
    assert out.returncode == 0, out.stderr
    assert "files hashed by the caller while unpacking" in out.stdout + out.stderr
    calls = (bin_dir / "sha256sum.log").read_text().splitlines()
    assert "" in calls                                  # stdin: the hasher's per-member runs
    assert not [c for c in calls if "bin/crio" in c], calls


def test_with_openssl_the_files_are_hashed_once_after_unpacking(bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    bin_dir = wrapper_bin(tmp_path / "wrap", "openssl", "")
    out = install("bash", bucket, NEW, dest, tmp_path / "tmp", bin_dir)
    assert out.returncode == 0, out.stderr
    assert "files hashed by the caller" not in out.stdout + out.stderr
    calls = (bin_dir / "openssl.log").read_text().splitlines()
    hashed = [arg for c in calls if c.startswith("dgst -sha256 -r") for arg in c.split()]
    assert len([a for a in hashed if a.endswith("/cri-o/bin/crio")]) == 1, calls


@pytest.mark.parametrize(("lines", "message"), [
    (lambda sums: {**sums, "bin/crio": "0" * 64}, "bin/crio does not match manifest.json"),
    (lambda sums: sums, "lists cri-o/bin/crio twice"),
    (lambda sums: {"bin/crio": "x"}, "is not 'SHA256  cri-o/PATH'"),
])
def test_the_install_script_checks_the_callers_file_sums(lines, message: str, tmp_path: Path) -> None:
    tree = make_bundle_tree(tmp_path / "b", {"bin/crio": b"crio\n"}, via_tar=False)
    sums = {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in tree.rglob("*") if p.is_file()}
    chosen = lines(sums)
    text = "".join(f"{sha}  cri-o/{path}\n" for path, sha in chosen.items())
    if chosen is sums:
        text += f"{sums['bin/crio']}  cri-o/bin/crio\n"
    sums_file = tmp_path / "sums"
    sums_file.write_text(text)
    dest = tmp_path / "dest"
    out = run_install(tree / "install", "--file-sums", str(sums_file), env=install_env(DESTDIR=str(dest)))
    assert out.returncode == ExitCode.VERIFICATION, out.stderr
    assert message in out.stderr
    assert not dest.exists()


@pytest.fixture
def usr_on_tmpfs(tmp_path: Path):
    """DESTDIR whose usr/ is a tmpfs of its own: the binaries' file system is not the state dir's."""
    dest = tmp_path / "dest"
    (dest / "usr").mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(dest / "usr")],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield dest
    finally:
        subprocess.run(["umount", "-l", str(dest / "usr")], check=False)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_destinations_on_another_file_system_install_and_roll_back_exactly(installer: str, bucket: Path,
                                                                          usr_on_tmpfs: Path, tmp_path: Path) -> None:
    """Across file systems mv copies (into the private temp directory beside the destination, so the final
    step is still a rename) and backups are copies: the outcome is the same, only slower."""
    dest = usr_on_tmpfs
    assert os.stat(dest / "usr").st_dev != os.stat(dest).st_dev
    assert install(installer, bucket, OLD, dest, tmp_path / "t0").returncode == 0
    before = snapshot(dest)
    counter = tmp_path / "count"
    body = (f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo "$n" >"{counter}"\n'
            'if [ "$n" -eq 6 ]; then echo "mv: cannot move: No space left on device" >&2; exit 1; fi')
    out = install(installer, bucket, NEW, dest, tmp_path / "t1", wrapper_bin(tmp_path / "wrap", "mv", body))
    assert out.returncode == ExitCode.INSTALL, out.stderr
    assert snapshot(dest) == before
    out = install(installer, bucket, NEW, dest, tmp_path / "t2")
    assert out.returncode == 0, out.stderr
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(f"#!/bin/sh\necho crio {NEW}".encode())
    assert not list((dest / STATE).glob("staging.*"))
    assert not [p for p in (dest / "usr").rglob(".crio-*")]


def temp_dirs_made(log: Path, dest: Path) -> list[str]:
    """The `mktemp` calls (logged by the wrapper) that made a `.crio-install.*` temp beside a destination."""
    calls = log.read_text().splitlines() if log.exists() else []
    return [c for c in calls if f"{dest}/" in c and "/.crio-install." in c]


def install_twice(root: Path, dest: Path, wrap: Path, *args: str) -> None:
    """A fresh install, then an upgrade over a locally changed config (its new version goes beside it as
    .crio-new: the one rename whose final name differs), each from a fresh bundle copy."""
    env = install_env(DESTDIR=str(dest), PATH=f"{wrap}:{os.environ['PATH']}", TMPDIR=str(root))
    for run in ("first", "second"):
        tree = make_bundle_tree(root / run, {"bin/crio": f"crio {run}\n".encode()}, via_tar=False)
        out = run_install(tree / "install", *args, env=env)
        assert out.returncode == 0, out.stderr
        if run == "first":
            (dest / "etc/crio/policy.json").write_text('{"changed": "locally"}\n')
    assert (dest / "etc/crio/policy.json.crio-new").is_file()
    assert (dest / "usr/local/bin/crio").read_bytes() == b"crio second\n"


def test_moving_on_one_file_system_makes_no_temp_directory_beside_the_destinations(tmp_path: Path) -> None:
    """With --move-sources on one mount the bundle's files are renamed straight to their final names; the
    outcome (files, modes, record, the .crio-new beside a changed config) is exactly that of a copying install,
    which does make its temp directories (so the logging mktemp is seen working)."""
    moved, copied = tmp_path / "moved", tmp_path / "copied"
    move_wrap = wrapper_bin(tmp_path / "wrap-move", "mktemp", "")
    install_twice(tmp_path / "m", moved, move_wrap, "--verified-tarball", "a" * 64, "--move-sources")
    copy_wrap = wrapper_bin(tmp_path / "wrap-copy", "mktemp", "")
    install_twice(tmp_path / "c", copied, copy_wrap, "--verified-tarball", "a" * 64)
    assert temp_dirs_made(move_wrap / "mktemp.log", moved) == []
    assert any("-d " in c and "/usr/local/bin/.crio-install." in c
               for c in temp_dirs_made(copy_wrap / "mktemp.log", copied))
    assert snapshot(moved) == snapshot(copied)
    assert not list(moved.rglob(".crio-install*"))


def test_moving_across_file_systems_still_goes_through_temp_directories(usr_on_tmpfs: Path, tmp_path: Path) -> None:
    """DESTDIR/usr on a tmpfs: a rename from the bundle cannot reach it, so mv copies into a temp directory
    beside each destination first and the final step stays a rename."""
    dest = usr_on_tmpfs
    wrap = wrapper_bin(tmp_path / "wrap", "mktemp", "")
    install_twice(tmp_path / "m", dest, wrap, "--verified-tarball", "a" * 64, "--move-sources")
    made = temp_dirs_made(wrap / "mktemp.log", dest)
    assert any("-d " in c and "/usr/local/bin/.crio-install." in c for c in made), made
    assert not list(dest.rglob(".crio-install*"))
    assert stat.S_IMODE((dest / "usr/local/bin/crio").stat().st_mode) == 0o755
