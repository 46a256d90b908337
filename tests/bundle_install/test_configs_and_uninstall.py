"""Changed configs survive re-install, upgrade and uninstall; uninstall restores the DESTDIR exactly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from helpers.bundle_install import install_env, make_bundle_tree, run_install, snapshot, write_manifest

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR

STATE = INSTALL_STATE_DIR.lstrip("/")


def preexisting(destdir: Path) -> None:
    """What an admin had before: an unrelated file in a shared dir, an empty dir, a different policy.json."""
    (destdir / "etc/containers").mkdir(parents=True)
    (destdir / "etc/crio").mkdir(parents=True)
    (destdir / "etc/crio/policy.json").write_text('{"default": [{"type": "reject"}]}\n')
    (destdir / "etc/hostname").write_text("node1\n")
    (destdir / "usr/local/bin").mkdir(parents=True)
    (destdir / "usr/local/bin/other-tool").write_text("#!/bin/sh\n")


def test_uninstall_restores_the_destdir_exactly(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    preexisting(destdir)
    before = snapshot(destdir)
    assert run_install(bundle / "install", env=env).returncode == 0
    # The admin's policy.json was not ours: the new one went beside it.
    assert (destdir / "etc/crio/policy.json").read_text() == '{"default": [{"type": "reject"}]}\n'
    assert (destdir / "etc/crio/policy.json.crio-new").is_file()
    result = run_install(destdir / STATE / "install", "--uninstall", env=env)
    assert result.returncode == 0, result.stderr
    assert snapshot(destdir) == before


def test_changed_config_survives_reinstall_and_uninstall(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    preexisting(destdir)
    before = snapshot(destdir)
    assert run_install(bundle / "install", env=env).returncode == 0
    shipped = (destdir / "etc/crio/crio.conf.d/10-crio.conf").read_text()
    changed = destdir / "etc/crio/crio.conf.d/10-crio.conf"
    changed.write_text(shipped + '\n[crio.runtime]\nlog_level = "debug"\n')
    mine = changed.read_text()

    again = run_install(bundle / "install", env=env)
    assert again.returncode == 0, again.stderr
    assert changed.read_text() == mine
    assert (destdir / "etc/crio/crio.conf.d/10-crio.conf.crio-new").read_text() == shipped
    assert f"kept {changed} (changed locally); the new version is {changed}.crio-new" in again.stdout

    # A third run keeps it too (the record still knows what was installed).
    assert run_install(bundle / "install", env=env).returncode == 0
    assert changed.read_text() == mine

    out = run_install(destdir / STATE / "install", "--uninstall", env=env)
    assert out.returncode == 0, out.stderr
    assert f"left {changed}: changed since it was installed" in out.stdout
    assert changed.read_text() == mine
    after = snapshot(destdir)
    kept = {"etc/crio/crio.conf.d", "etc/crio/crio.conf.d/10-crio.conf"}  # etc/crio was the admin's
    assert {p: v for p, v in after.items() if p not in kept} == before
    assert set(after) - set(before) == kept


def test_reverted_config_is_upgraded_again_and_stale_crio_new_removed(bundle: Path, destdir: Path,
                                                                       env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    conf = destdir / "etc/crictl.yaml"
    shipped = conf.read_text()
    conf.write_text(shipped + "debug: true\n")
    assert run_install(bundle / "install", env=env).returncode == 0
    assert (destdir / "etc/crictl.yaml.crio-new").exists()
    conf.write_text(shipped)  # the admin takes our version back
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 0, out.stderr
    assert not (destdir / "etc/crictl.yaml.crio-new").exists()
    assert "crio-new" not in (destdir / STATE / INSTALL_RECORD).read_text()


def test_preexisting_identical_config_is_left_and_not_recorded(bundle: Path, destdir: Path,
                                                                env: dict[str, str]) -> None:
    (destdir / "etc").mkdir()
    (destdir / "etc/crictl.yaml").write_bytes((bundle / "etc/crictl.yaml").read_bytes())
    before = snapshot(destdir)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 0, out.stderr
    assert f"kept {destdir}/etc/crictl.yaml (already identical, not recorded)" in out.stdout
    assert "/etc/crictl.yaml\t" not in (destdir / STATE / INSTALL_RECORD).read_text()
    assert run_install(destdir / STATE / "install", "--uninstall", env=env).returncode == 0
    assert snapshot(destdir) == before


def test_config_that_is_a_symlink_is_not_replaced(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    (destdir / "etc").mkdir()
    (destdir / "srv").mkdir()
    (destdir / "srv/crictl.yaml").write_text("mine\n")
    (destdir / "etc/crictl.yaml").symlink_to("../srv/crictl.yaml")
    before = snapshot(destdir)
    assert run_install(bundle / "install", env=env).returncode == 0
    assert (destdir / "etc/crictl.yaml").is_symlink()
    assert (destdir / "etc/crictl.yaml.crio-new").is_file()
    assert run_install(destdir / STATE / "install", "--uninstall", env=env).returncode == 0
    assert snapshot(destdir) == before


def test_upgrade_removes_files_the_new_bundle_no_longer_has(tmp_path: Path, destdir: Path,
                                                             env: dict[str, str]) -> None:
    old = make_bundle_tree(tmp_path / "old", {"bin/crio-legacy": b"old tool\n", "etc/crio-legacy.yaml": b"a: 1\n"})
    new = make_bundle_tree(tmp_path / "new")
    assert run_install(old / "install", env=env).returncode == 0
    assert (destdir / "usr/local/bin/crio-legacy").exists()
    (destdir / "etc/crio/crio-legacy.yaml").write_text("a: 2\n")  # changed: must stay
    out = run_install(new / "install", env=env)
    assert out.returncode == 0, out.stderr
    assert not (destdir / "usr/local/bin/crio-legacy").exists()
    assert f"removed {destdir}/usr/local/bin/crio-legacy (not in this bundle)" in out.stdout
    assert (destdir / "etc/crio/crio-legacy.yaml").read_text() == "a: 2\n"
    record = (destdir / STATE / INSTALL_RECORD).read_text()
    assert "crio-legacy" not in record
    # Fresh install of `new` alone + the changed leftover == what uninstall leaves.
    assert run_install(destdir / STATE / "install", "--uninstall", env=env).returncode == 0
    assert set(snapshot(destdir)) == {"etc", "etc/crio", "etc/crio/crio-legacy.yaml"}


def test_uninstall_list_prints_and_changes_nothing(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    (destdir / "etc/crictl.yaml").write_text("changed\n")
    before = snapshot(destdir)
    out = run_install(destdir / STATE / "install", "--uninstall", "--list", env=env)
    assert out.returncode == 0, out.stderr
    assert snapshot(destdir) == before
    listed = set(out.stdout.splitlines())
    assert f"{destdir}/usr/local/bin/crio-status" in listed
    assert f"{destdir}/etc/crictl.yaml" not in listed
    assert f"{destdir}/{STATE}/{INSTALL_RECORD}" in listed


def test_uninstall_without_record_is_a_no_op(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    out = run_install(bundle / "install", "--uninstall", env=env)
    assert out.returncode == 0
    assert "nothing to uninstall" in out.stdout
    assert snapshot(destdir) == {}


def test_changed_binary_is_left_on_uninstall(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    (destdir / "usr/local/bin/crio-status").write_text("replaced by someone else\n")
    out = run_install(destdir / STATE / "install", "--uninstall", env=env)
    assert out.returncode == 0
    assert (destdir / "usr/local/bin/crio-status").read_text() == "replaced by someone else\n"
    assert "changed since it was installed (file)" in out.stdout


def test_staging_failure_rolls_back_everything(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    # A file where the install needs a directory: found while staging, after other files were staged.
    (destdir / "usr/local/share").mkdir(parents=True)
    (destdir / "usr/local/share/man").write_text("not a directory\n")
    before = snapshot(destdir)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 7
    assert out.stderr.strip().splitlines() == [f"install: error: {destdir}/usr/local/share/man exists and is not a directory"]
    assert snapshot(destdir) == before


def test_destination_that_is_a_directory_is_refused_before_writing(bundle: Path, destdir: Path,
                                                                   env: dict[str, str]) -> None:
    (destdir / "etc/crictl.yaml").mkdir(parents=True)
    before = snapshot(destdir)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 7
    assert "is a directory" in out.stderr
    assert snapshot(destdir) == before


def test_record_holds_no_destdir(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    assert str(destdir) not in (destdir / STATE / INSTALL_RECORD).read_text()
    env2 = install_env(Path(env["OS_RELEASE_FILE"]), DESTDIR=str(destdir), STATEDIR="/var/lib/other")
    assert run_install(bundle / "install", "--uninstall", env=env2).stdout.startswith("nothing to uninstall")


def test_upgrade_replaces_unchanged_configs_and_keeps_changed_ones(tmp_path: Path, destdir: Path,
                                                                    env: dict[str, str]) -> None:
    old = make_bundle_tree(tmp_path / "old")
    new = make_bundle_tree(tmp_path / "new")
    for name in ("etc/crictl.yaml", "etc/crio-umount.conf"):
        (new / name).write_text((new / name).read_text() + "# v2\n")
    write_manifest(new)
    assert run_install(old / "install", env=env).returncode == 0
    umount_conf = destdir / "usr/local/share/oci-umount/oci-umount.d/crio-umount.conf"
    umount_conf.write_text(umount_conf.read_text() + "/mnt/mine/*\n")
    mine = umount_conf.read_text()
    out = run_install(new / "install", env=env)
    assert out.returncode == 0, out.stderr
    # Unchanged by the admin: upgraded in place. Changed: kept, the new one beside it.
    assert (destdir / "etc/crictl.yaml").read_text().endswith("# v2\n")
    assert not (destdir / "etc/crictl.yaml.crio-new").exists()
    assert umount_conf.read_text() == mine
    assert Path(f"{umount_conf}.crio-new").read_text().endswith("# v2\n")
    assert out.stdout.count(".crio-new") == 1


def test_malformed_record_is_an_install_error(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    record = destdir / STATE / INSTALL_RECORD
    record.write_text(record.read_text() + "relative/path\tx\t0644\tfile\n")
    before = snapshot(destdir)
    out = run_install(bundle / "install", env=env)
    assert out.returncode == 7
    assert f"{record} line" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert snapshot(destdir) == before


def failing_tool(tmp_path: Path, tool: str, when: str) -> str:
    """A PATH dir whose `tool` fails (exit 1) when its arguments contain `when`, else runs the real one."""
    fake = tmp_path / f"fake-{tool}"
    fake.mkdir()
    real = shutil.which(tool)
    (fake / tool).write_text(f'#!/bin/sh\ncase "$*" in *{when}*) echo "{tool}: injected failure" >&2; exit 1;; esac\n'
                             f'exec {real} "$@"\n')
    (fake / tool).chmod(0o755)
    return f"{fake}:{os.environ['PATH']}"


def test_copy_failure_while_staging_leaves_nothing(bundle: Path, destdir: Path, env: dict[str, str],
                                                   tmp_path: Path) -> None:
    preexisting(destdir)
    before = snapshot(destdir)
    out = run_install(bundle / "install", env={**env, "PATH": failing_tool(tmp_path, "cp", "share/man/")})
    assert out.returncode == 7
    assert out.stderr.strip().splitlines()[-1].startswith("install: error: cannot write in ")
    assert snapshot(destdir) == before


def test_rename_failure_while_committing_is_recorded_and_uninstallable(bundle: Path, destdir: Path,
                                                                      env: dict[str, str], tmp_path: Path) -> None:
    preexisting(destdir)
    before = snapshot(destdir)
    out = run_install(bundle / "install", env={**env, "PATH": failing_tool(tmp_path, "mv", "share/man/")})
    assert out.returncode == 7
    assert "cannot install into" in out.stderr
    # Half-committed, but everything written is in the record: uninstall restores the DESTDIR.
    assert (destdir / STATE / INSTALL_RECORD).is_file()
    assert not [p for p in snapshot(destdir) if ".crio-install." in p]  # no temp dir left behind
    undo = run_install(destdir / STATE / "install", "--uninstall", env=env)
    assert undo.returncode == 0, undo.stderr
    assert snapshot(destdir) == before


def test_interrupt_while_staging_rolls_back(bundle: Path, destdir: Path, env: dict[str, str],
                                             tmp_path: Path) -> None:
    preexisting(destdir)
    before = snapshot(destdir)
    fake = tmp_path / "slow-cp"
    fake.mkdir()
    ready = tmp_path / "cp-started"
    (fake / "cp").write_text(f'#!/bin/sh\ncase "$*" in *share/man/*) : > "{ready}"; exec sleep 30;; esac\n'
                             f'exec {shutil.which("cp")} "$@"\n')
    (fake / "cp").chmod(0o755)
    proc = subprocess.Popen(["bash", str(bundle / "install")], env={**env, "PATH": f"{fake}:{os.environ['PATH']}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "install never reached the slow copy"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)  # like Ctrl-C: the whole foreground group
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert snapshot(destdir) == before
