"""`--rollback` and `--no-keep-previous`, both installers, with the real in-bundle install script.

An install keeps the transaction it committed as $STATEDIR/previous/ (backups are hard links
to the replaced inodes); `--rollback` replays it inside a new transaction, which then becomes
previous/. Observed from outside: the tree (record included) after v1 -> v2 -> --rollback is
byte for byte the tree after v1, and a second --rollback gives the tree after v2; a kill -9 at
several points of a rollback leaves, after the installers' own recovery, one of the two; a
planted previous/ naming paths outside DESTDIR (or the installer's own files) is refused
without touching anything; a config the admin changed is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from crio_installer import transaction
from crio_installer.lock import RootLock
from helpers.get_fixtures import (
    CRIO_GET,
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
PREVIOUS = f"{STATE}/previous"
V1, V2 = "v1.30.0", "v1.30.1"
CONFIG = "etc/crio/crio.conf.d/10-crio.conf"


def real_bundle(root: Path, revision: str) -> Path:
    """The real install script and files, a crio of the revision's own, a config that changes between the two
    revisions, and a tool only v1 has (v2 removes it) and one only v2 has (v2 adds it)."""
    only = {"bin/crio-old-tool": b"old tool\n"} if revision == V1 else {"bin/crio-new-tool": b"new tool\n"}
    return real_bundle_tarball(root, revision, {
        "bin/crio": f"#!/bin/sh\necho crio {revision}\n".encode() * 4096,
        "bin/pinns": f"pinns {revision}\n".encode(),
        "etc/10-crio.conf": f"[crio]\n# {revision}\n".encode(),
        **only,
    })


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rollback")
    return lay_out_bucket(root / "bucket", [real_bundle(root, V1), real_bundle(root, V2)])


def install(installer: str, bucket: Path, revision: str, dest: Path, tmp: Path,
            *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["-a", "amd64", "--url", bucket.as_uri(), "-t", revision, "--insecure-skip-signature-verification"]
    return run_get(installer, [*args, *extra], destdir=dest, tmpdir=tmp)


def rollback(installer: str, dest: Path, tmp: Path, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_get(installer, ["--rollback", *extra], destdir=dest, tmpdir=tmp, env=env,
                   in_process=env is None, new_session=env is not None)


def tree(dest: Path) -> dict[str, tuple[str, int, bytes]]:
    """The installation as an operator sees it: every file and the record; not the lock and not previous/.
    The record's install time is left out: two installs of one revision differ only in it."""
    out = {k: v for k, v in snapshot(dest).items()
           if k != f"{STATE}/lock" and k != PREVIOUS and not k.startswith(PREVIOUS + "/")}
    record = f"{STATE}/{INSTALL_RECORD}"
    if record in out:
        kind, mode, data = out[record]
        out[record] = (kind, mode, b"\n".join(line for line in data.split(b"\n")
                                              if not line.startswith(b"#install-time\t")))
    return out


def installed_v1_v2(installer: str, bucket: Path, dest: Path, tmp: Path) -> tuple[dict, dict]:
    """Install v1 then v2 into `dest`; the trees after each."""
    assert install(installer, bucket, V1, dest, tmp / "i1").returncode == 0
    after_v1 = tree(dest)
    out = install(installer, bucket, V2, dest, tmp / "i2")
    assert out.returncode == 0, out.stderr
    assert f"installed CRI-O {V2} (amd64); previous installation kept for --rollback (" in out.stderr
    return after_v1, tree(dest)


def recover(installer: str, dest: Path, tmp: Path) -> None:
    """What the next run of either installer does first: recovery under the root's lock."""
    if installer == "python":
        sdir = transaction.state_dir(str(dest))
        with RootLock(sdir, sdir / INSTALL_RECORD, 5, print):
            transaction.recover(str(dest), print)
        return
    out = subprocess.run([*installer_command("bash"), "--contract", "txn_recover", str(dest)], capture_output=True,
                         text=True, check=False, env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp)})
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_rollback_twice_returns_to_each_installation(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert install(installer, bucket, V1, dest, tmp_path / "i1").returncode == 0
    after_v1 = tree(dest)
    v1_crio = (dest / "usr/local/bin/crio").stat()
    out = install(installer, bucket, V2, dest, tmp_path / "i2")
    assert out.returncode == 0, out.stderr
    # The space kept: v1's replaced crio alone is 4096 lines; it is held only by previous/.
    kept = int(out.stderr.split("previous installation kept for --rollback (")[1].split(" bytes)")[0])
    assert kept >= (dest / "usr/local/bin/crio").stat().st_size
    after_v2 = tree(dest)
    assert after_v2 != after_v1 and (dest / PREVIOUS).is_dir()

    out = rollback(installer, dest, tmp_path / "r1")
    assert out.returncode == 0, out.stderr
    assert f"rolled back to CRI-O {V1} (amd64); previous installation kept for --rollback (" in out.stderr
    assert tree(dest) == after_v1
    assert not (dest / "usr/local/bin/crio-new-tool").exists() and (dest / "usr/local/bin/crio-old-tool").exists()
    back = (dest / "usr/local/bin/crio").stat()
    assert (back.st_ino, back.st_mtime_ns) == (v1_crio.st_ino, v1_crio.st_mtime_ns), "v1's own inode, not a copy"
    assert not (dest / STATE / "transaction").exists()

    out = rollback(installer, dest, tmp_path / "r2")
    assert out.returncode == 0, out.stderr
    assert f"rolled back to CRI-O {V2} (amd64)" in out.stderr
    assert tree(dest) == after_v2


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_two_installers_roll_back_each_others_installs(installer: str, bucket: Path, tmp_path: Path) -> None:
    other = "bash" if installer == "python" else "python"
    dest = tmp_path / "dest"
    assert install(other, bucket, V1, dest, tmp_path / "i1").returncode == 0
    after_v1 = tree(dest)
    assert install(other, bucket, V2, dest, tmp_path / "i2").returncode == 0
    out = rollback(installer, dest, tmp_path / "r1")
    assert out.returncode == 0, out.stderr
    assert tree(dest) == after_v1


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_first_install_keeps_no_previous_installation(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    out = install(installer, bucket, V1, dest, tmp_path / "i1")
    assert out.returncode == 0, out.stderr
    assert "previous installation kept" not in out.stderr
    assert not (dest / PREVIOUS).exists()
    before = snapshot(dest)
    out = rollback(installer, dest, tmp_path / "r1")
    assert out.returncode == ExitCode.INSTALL
    assert out.stderr.strip().splitlines()[-1] == (
        f"crio-get: error: no previous installation is kept ({dest / PREVIOUS} not found): nothing to roll back to "
        "(a first install, --no-keep-previous and --uninstall keep none)")
    assert snapshot(dest) == before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_no_keep_previous_keeps_none_and_removes_an_older_one(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    installed_v1_v2(installer, bucket, dest, tmp_path)
    assert (dest / PREVIOUS).is_dir()
    # -t names v1: an explicit downgrade, installed without keeping v2 (and v1's older kept state goes).
    out = install(installer, bucket, V1, dest, tmp_path / "i3", "--no-keep-previous")
    assert out.returncode == 0, out.stderr
    assert "previous installation kept" not in out.stderr
    assert not (dest / PREVIOUS).exists()
    assert not list((dest / STATE).glob("transaction*"))
    out = rollback(installer, dest, tmp_path / "r1")
    assert out.returncode == ExitCode.INSTALL
    assert "no previous installation is kept" in out.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_rollback_with_no_keep_previous_drops_the_rolled_back_installation(installer: str, bucket: Path,
                                                                           tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    after_v1, _ = installed_v1_v2(installer, bucket, dest, tmp_path)
    out = rollback(installer, dest, tmp_path / "r1", "--no-keep-previous")
    assert out.returncode == 0, out.stderr
    assert tree(dest) == after_v1
    assert not (dest / PREVIOUS).exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_removes_the_kept_previous_installation(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    installed_v1_v2(installer, bucket, dest, tmp_path)
    out = run_get(installer, ["--uninstall"], destdir=dest, tmpdir=tmp_path / "u")
    assert out.returncode == 0, out.stderr
    assert not (dest / STATE).exists(), sorted(snapshot(dest / STATE))


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("extra", [["-t", V1], ["-n"], ["--uninstall"], ["-d", "dir"]])
def test_rollback_excludes_the_install_options(installer: str, extra: list[str], tmp_path: Path) -> None:
    out = run_get(installer, ["--rollback", *extra], destdir=tmp_path / "dest", tmpdir=tmp_path / "t")
    assert out.returncode == ExitCode.USAGE
    assert "--rollback restores the kept previous installation: it excludes -t, -f, -b, --url, -d, -n and " \
           "--uninstall" in out.stderr
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_changed_config_is_kept_through_a_rollback(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    installed_v1_v2(installer, bucket, dest, tmp_path)
    config = dest / CONFIG
    assert config.read_text() == f"[crio]\n# {V2}\n"
    config.write_text("[crio]\n# the admin's\n")
    out = rollback(installer, dest, tmp_path / "r1")
    assert out.returncode == 0, out.stderr
    assert config.read_text() == "[crio]\n# the admin's\n"
    assert Path(f"{config}.crio-new").read_text() == f"[crio]\n# {V1}\n"
    assert f"kept {config} (changed since it was installed); its earlier version is {config}.crio-new" in out.stderr
    assert (dest / "usr/local/bin/pinns").read_text() == f"pinns {V1}\n"
    # And back: the admin's config is still kept, the .crio-new this rollback wrote is gone.
    out = rollback(installer, dest, tmp_path / "r2")
    assert out.returncode == 0, out.stderr
    assert config.read_text() == "[crio]\n# the admin's\n"
    assert not Path(f"{config}.crio-new").exists()
    assert (dest / "usr/local/bin/pinns").read_text() == f"pinns {V2}\n"


def plant(dest: Path, line: str) -> None:
    """A previous/ whose journal is `line` (backup/1 a file of its own), finished like a kept one."""
    kept = dest / PREVIOUS
    (kept / "backup").mkdir(parents=True)
    for name in ("ready", "committed", "keep", "statefiles", "statedirs"):
        (kept / name).write_text("")
    (kept / "journal").write_text(line + "\n")
    (kept / "backup" / "1").write_text("planted\n")


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("kind", ["saved-outside", "absent-outside", "own-lock", "no-record", "record-escapes"])
def test_a_planted_previous_installation_is_refused_untouched(installer: str, kind: str, bucket: Path,
                                                              tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert install(installer, bucket, V1, dest, tmp_path / "i1").returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("not yours\n")
    sdir = dest / STATE
    record = sdir / INSTALL_RECORD
    lines = {
        "saved-outside": (f"saved\t1\t{victim}", "not below DESTDIR"),
        "absent-outside": (f"absent\t0\t{victim}", "not below DESTDIR"),
        "own-lock": (f"absent\t0\t{sdir / 'lock'}", "the path is the installer's own lock"),
        "no-record": (f"absent\t0\t{dest / 'usr/local/bin/crio'}", "it restores no install record"),
        "record-escapes": (f"saved\t1\t{record}", "the path is not absolute and normalised"),
    }
    line, why = lines[kind]
    plant(dest, line)
    if kind == "record-escapes":
        (sdir / PREVIOUS.split("/")[-1] / "backup" / "1").write_text(
            f"/../{victim.relative_to('/')}\t{'0' * 64}\t0644\tfile\n")
    before = snapshot(dest)
    out = rollback(installer, dest, tmp_path / "r")
    assert out.returncode == ExitCode.INSTALL, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"crio-get: error: the kept previous installation {dest / PREVIOUS} is not restored: ")
    assert why in last and last.endswith("nothing was changed: inspect it, or remove it by hand")
    assert victim.read_text() == "not yours\n"
    assert snapshot(dest) == before


def kill_env(tmp: Path, installer: str, point: int | None, fail: bool = False) -> dict[str, str]:
    """A kill -9 of the whole process group at the `point`-th rename of the run (None: only count them);
    with `fail`, that rename fails instead (No space left on device).

    bash: an `mv` first on PATH; python: os.rename/os.replace wrapped by a sitecustomize on PYTHONPATH.
    """
    counter = tmp / "count"
    if installer == "bash":
        wrap = tmp / "wrap"
        wrap.mkdir(parents=True)
        act = 'echo "mv: No space left on device" >&2; exit 1' if fail else f'{shutil.which("mv")} "$@"; kill -KILL 0'
        kill = f'if [ "$n" -eq {point} ]; then {act}; fi' if point else ""
        (wrap / "mv").write_text(f'#!/bin/bash\nn=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); '
                                 f'echo "$n" >"{counter}"\n{kill}\nexec {shutil.which("mv")} "$@"\n')
        (wrap / "mv").chmod(0o755)
        return {"PATH": f"{wrap}:{os.environ['PATH']}"}
    site = tmp / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(f"""
import errno, os, signal
_counter, _point, _fail = {str(counter)!r}, {point or 0}, {fail!r}
def _wrap(real):
    def renamed(*args, **kwargs):
        n = (int(open(_counter).read()) if os.path.exists(_counter) else 0) + 1
        with open(_counter, "w") as handle:
            handle.write(str(n))
        if n == _point and _fail:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), args[-1])
        result = real(*args, **kwargs)
        if n == _point:
            os.killpg(0, signal.SIGKILL)
        return result
    return renamed
os.rename, os.replace = _wrap(os.rename), _wrap(os.replace)
""")
    return {"PYTHONPATH": str(site)}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_kill_during_a_rollback_leaves_one_of_the_two_installations(installer: str, bucket: Path,
                                                                       tmp_path: Path) -> None:
    dest, template = tmp_path / "dest", tmp_path / "template"
    after_v1, after_v2 = installed_v1_v2(installer, bucket, dest, tmp_path / "ref")
    # previous/ names the paths of its own DESTDIR: each case starts from a copy put back at the same path.
    subprocess.run(["cp", "-a", str(dest), str(template)], check=True)
    env = kill_env(tmp_path / "count-run", installer, None)
    assert rollback(installer, dest, tmp_path / "c", env=env).returncode == 0
    total = int((tmp_path / "count-run" / "count").read_text())
    assert total >= 5
    points = sorted({1, 2, total // 3, total // 2, 2 * total // 3, total - 1, total})
    outcomes = []
    for point in points:
        case = tmp_path / f"case-{point}"
        shutil.rmtree(dest)
        subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
        assert tree(dest) == after_v2
        killed = rollback(installer, dest, case / "r", env=kill_env(case / "kill", installer, point))
        assert killed.returncode != 0, f"the kill at rename {point} of {total} did not happen"
        recover(installer, dest, case / "rec")
        after = tree(dest)
        assert after in (after_v1, after_v2), f"a mix after a kill at rename {point} of {total}"
        outcomes.append("v1" if after == after_v1 else "v2")
        # Whichever it is, the other one is kept: one more --rollback gives it.
        out = rollback(installer, dest, case / "again")
        assert out.returncode == 0, out.stderr
        assert tree(dest) == (after_v2 if after == after_v1 else after_v1)
    assert outcomes[0] == "v2" and outcomes[-1] == "v1", outcomes


def test_crio_get_help_names_the_options() -> None:
    out = subprocess.run([str(CRIO_GET), "--help"], capture_output=True, text=True, check=False)
    bash = subprocess.run([*installer_command("bash"), "--help"], capture_output=True, text=True, check=False)
    for text in (out.stdout, bash.stdout):
        assert "--rollback" in text and "--no-keep-previous" in text


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_kill_while_an_install_keeps_previous_leaves_a_usable_one(installer: str, bucket: Path,
                                                                    tmp_path: Path) -> None:
    """The last renames of an upgrade promote its transaction to previous/: killed there, recovery finishes
    the commit (or rolls it back), and --rollback then restores v1 exactly from whatever is kept."""
    dest, template = tmp_path / "dest", tmp_path / "template"
    assert install(installer, bucket, V1, dest, tmp_path / "i1").returncode == 0
    after_v1 = tree(dest)
    subprocess.run(["cp", "-a", str(dest), str(template)], check=True)
    env = kill_env(tmp_path / "count-run", installer, None)
    out = run_get(installer, ["-a", "amd64", "--url", bucket.as_uri(), "-t", V2,
                              "--insecure-skip-signature-verification"], destdir=dest, tmpdir=tmp_path / "c2",
                  env=env, new_session=True)
    assert out.returncode == 0, out.stderr
    after_v2 = tree(dest)
    total = int((tmp_path / "count-run" / "count").read_text())
    outcomes = []
    for point in range(max(1, total - 3), total + 1):
        case = tmp_path / f"case-{point}"
        shutil.rmtree(dest)
        subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
        killed = run_get(installer, ["-a", "amd64", "--url", bucket.as_uri(), "-t", V2,
                                     "--insecure-skip-signature-verification"], destdir=dest, tmpdir=case / "i2",
                         env=kill_env(case / "kill", installer, point), new_session=True)
        assert killed.returncode != 0, f"the kill at rename {point} of {total} did not happen"
        recover(installer, dest, case / "rec")
        after = tree(dest)
        assert after in (after_v1, after_v2), f"a mix after a kill at rename {point} of {total}"
        assert not list((dest / STATE).glob("transaction*"))
        outcomes.append("v1" if after == after_v1 else "v2")
        if after == after_v2:
            out = rollback(installer, dest, case / "r")
            assert out.returncode == 0, out.stderr
            assert tree(dest) == after_v1
        else:
            assert not (dest / PREVIOUS).exists()
    assert outcomes[-1] == "v2", outcomes      # killed right after previous/ was renamed in


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_failed_rollback_restores_the_installation_before_it(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    after_v1, after_v2 = installed_v1_v2(installer, bucket, dest, tmp_path)
    crio = (dest / "usr/local/bin/crio").stat()
    out = rollback(installer, dest, tmp_path / "r1", env=kill_env(tmp_path / "fail", installer, 3, fail=True))
    assert out.returncode == ExitCode.INSTALL, out.stderr
    assert out.stderr.strip().splitlines()[-1] == \
        "crio-get: error: the rollback failed; the installation before it is restored"
    assert tree(dest) == after_v2
    assert (dest / "usr/local/bin/crio").stat().st_ino == crio.st_ino
    assert not list((dest / STATE).glob("transaction*"))
    # previous/ was only read: it still restores v1.
    out = rollback(installer, dest, tmp_path / "r2")
    assert out.returncode == 0, out.stderr
    assert tree(dest) == after_v1


@pytest.mark.parametrize("installer", INSTALLERS)
def test_rollback_on_an_empty_root_changes_nothing(installer: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    out = rollback(installer, dest, tmp_path / "r")
    assert out.returncode == ExitCode.INSTALL
    assert "no previous installation is kept" in out.stderr
    assert snapshot(dest) == {}


def test_both_installers_print_the_same_summary_lines(bucket: Path, tmp_path: Path) -> None:
    """Same installs, same kept space, same rollback line: the two installers' output agrees."""
    lines: dict[str, list[str]] = {}
    for installer in INSTALLERS:
        dest = tmp_path / installer
        assert install(installer, bucket, V1, dest, tmp_path / f"{installer}-1").returncode == 0
        upgraded = install(installer, bucket, V2, dest, tmp_path / f"{installer}-2")
        rolled = rollback(installer, dest, tmp_path / f"{installer}-r")
        assert upgraded.returncode == 0 and rolled.returncode == 0, upgraded.stderr + rolled.stderr
        lines[installer] = [line for line in (upgraded.stderr + rolled.stderr).splitlines()
                            if line.startswith(("crio-get: installed CRI-O", "crio-get: rolled back"))]
    assert len(lines["bash"]) == 2 and lines["bash"] == lines["python"]
