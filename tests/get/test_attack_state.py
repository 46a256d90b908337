"""State under DESTDIR is data, and one transaction per root at a time: attacks on both installers.

Every case runs under scripts/get and crio-get and must end the same way. What an attacker
plants under DESTDIR (a transaction journal, a record line, a changed stored install script)
makes neither installer touch anything outside DESTDIR, nor run anything unverified; path
variables that would leave DESTDIR or break a rendered file are usage errors; and two runs on
one root never interleave: the second waits for the lock (or gives up with exit 18), and a
holder killed with kill -9 blocks nobody.

The concurrency cases use a fixture bundle whose install script pauses at a handshake
(it waits for a file the test creates), so no case depends on timing.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import IO

import pytest
from helpers.bundle_install import install_env, make_bundle_tree, run_install
from helpers.get_fixtures import (
    INSTALLERS,
    bundle_files,
    install_script,
    installer_command,
    lay_out_bucket,
    run_get,
    snapshot,
    unsigned_unless_said,
    write_side_files,
    write_tarball,
)

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR, tarball_name
from crio.errors import ExitCode

TAG = "v1.21.0"
STATE = INSTALL_STATE_DIR.lstrip("/")
PAIRS = [("bash", "bash"), ("python", "python"), ("bash", "python"), ("python", "bash")]


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("crio-get: error:", "Error:"))]


def refused(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The run exited `code` with exactly one error line; that line."""
    detail = f"stdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == code, detail
    lines = errors(result)
    assert len(lines) == 1, detail
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- a fixture bundle that pauses at a handshake ---------------------------------------------------

def handshake_script() -> str:
    """The fixture install script, pausing where CRIO_TEST_PAUSE_AFTER (install) or
    CRIO_TEST_UNINSTALL_PAUSE (--uninstall) say, until the file $CRIO_TEST_GO exists."""
    text = install_script()
    # Bounded (60 s): a test that fails before it creates the file must not leave a script spinning.
    wait = 'n=0; while [ ! -e "$CRIO_TEST_GO" ] && [ "$n" -lt 3000 ]; do sleep 0.02; n=$((n + 1)); done'
    replaced = {
        "PAUSE_AFTER=-1": 'PAUSE_AFTER="${CRIO_TEST_PAUSE_AFTER:--1}"',
        ': >"$STATE/paused"; sleep 1; rm -f "$STATE/paused"': f': >"$STATE/paused"; {wait}; rm -f "$STATE/paused"',
        "    while IFS=$'\\t' read -r path _; do rm -f -- \"$path\"; done":
            f"    if [ -n \"${{CRIO_TEST_UNINSTALL_PAUSE:-}}\" ]; then : >\"$STATE/paused\"; {wait}; "
            "rm -f \"$STATE/paused\"; fi\n"
            "    while IFS=$'\\t' read -r path _; do case $path in '#'*) continue ;; esac; rm -f -- \"$path\"; done",
    }
    for old, new in replaced.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.5 and v1.0.6 of the handshake bundle."""
    root = tmp_path_factory.mktemp("state-bucket")
    (root / "build").mkdir()
    tarballs = []
    for revision in ("v1.0.5", "v1.0.6"):
        files = bundle_files(revision)
        files["install"] = (handshake_script().encode(), 0o755)
        tarball = write_tarball(root / "build" / tarball_name("amd64", revision), files)
        write_side_files(tarball)
        tarballs.append(tarball)
    return lay_out_bucket(root / "bucket", tarballs)


def args_for(bucket: Path, revision: str) -> list[str]:
    return ["-a", "amd64", "-m", bucket.as_uri(), "-t", revision]


def record_matches_files(dest: Path) -> dict[str, str]:
    """The fixture record lists exactly the files outside the state dir, with their sha256, and is stamped
    with the sha256 of the stored install script. Returns the rows."""
    record = dest / STATE / INSTALL_RECORD
    rows: dict[str, str] = {}
    meta: dict[str, str] = {}
    for line in record.read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition("\t")
            meta[key] = value
        else:
            path, digest = line.split("\t")
            rows[path] = digest
    files = {str(p): sha256(p) for p in dest.rglob("*")
             if p.is_file() and not str(p).startswith(str(dest / STATE))}
    assert rows == files
    assert meta["install-script"] == sha256(dest / STATE / "install")
    assert not (dest / STATE / "transaction").exists()
    return rows


class Background:
    """An installer run in its own session, its stderr in a file the test can watch."""

    def __init__(self, installer: str, args: list[str], dest: Path, tmp: Path, env: dict[str, str]) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.err_path = tmp.parent / f"{tmp.name}.stderr"
        self.err: IO[str] = open(self.err_path, "w")
        full = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp), "DESTDIR": str(dest),
                "CRIO_GET_RETRY_DELAY": "0", **env}
        self.proc = subprocess.Popen([*installer_command(installer), *unsigned_unless_said(args, env)], env=full, stdout=subprocess.DEVNULL,
                                     stderr=self.err, text=True, start_new_session=True)

    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait(self) -> int:
        code = self.proc.wait(timeout=120)
        self.err.close()
        return code

    def kill_group(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait()


def until(condition, what: str, proc: Background | None = None) -> None:
    """Wait for a condition another process brings about (a deadline only against hanging, not a timing test)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert proc is None or proc.proc.poll() is None, f"{what}: the run ended first: {proc.stderr()}"
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def paused_install(installer: str, bucket: Path, revision: str, dest: Path, tmp: Path, go: Path,
                   uninstall: bool = False) -> Background:
    env = {"CRIO_TEST_GO": str(go)}
    env.update({"CRIO_TEST_UNINSTALL_PAUSE": "1"} if uninstall else {"CRIO_TEST_PAUSE_AFTER": "2"})
    run = Background(installer, ["-U"] if uninstall else args_for(bucket, revision), dest, tmp, env)
    until(lambda: (dest / STATE / "paused").exists(), "the first run reached its pause", run)
    return run


# --- one transaction per root at a time ------------------------------------------------------------

@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_second_install_waits_for_the_first_then_installs(first: str, second: str, bucket: Path,
                                                          tmp_path: Path) -> None:
    dest, go = tmp_path / "dest", tmp_path / "go"
    a = paused_install(first, bucket, "v1.0.5", dest, tmp_path / "tmp-a", go)
    journal_before = (dest / STATE / "transaction" / "journal").read_bytes()
    b = Background(second, args_for(bucket, "v1.0.6"), dest, tmp_path / "tmp-b", {"CRIO_GET_LOCK_TIMEOUT": "120"})
    until(lambda: "waiting up to 120 s for another install" in b.stderr(), "the second run waits", b)
    # The second run left the first's live journal alone.
    assert (dest / STATE / "transaction" / "journal").read_bytes() == journal_before
    go.touch()
    assert a.wait() == 0, a.stderr()
    assert b.wait() == 0, b.stderr()
    assert "interrupted" not in a.stderr() + b.stderr()
    rows = record_matches_files(dest)
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.0.6")
    assert len(rows) == 4
    assert list((tmp_path / "tmp-a").iterdir()) == [] and list((tmp_path / "tmp-b").iterdir()) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_second_install_gives_up_with_exit_18_and_touches_nothing(installer: str, bucket: Path,
                                                                  tmp_path: Path) -> None:
    dest, go = tmp_path / "dest", tmp_path / "go"
    a = paused_install(installer, bucket, "v1.0.5", dest, tmp_path / "tmp-a", go)
    during = snapshot(dest)
    try:
        b = run_get(installer, args_for(bucket, "v1.0.6"), destdir=dest, tmpdir=tmp_path / "tmp-b",
                    env={"CRIO_GET_LOCK_TIMEOUT": "0"}, in_process=False)
        line = refused(b, ExitCode.LOCKED)
        assert "holds the lock" in line and "CRIO_GET_LOCK_TIMEOUT" in line
        assert snapshot(dest) == during
    finally:
        go.touch()
    assert a.wait() == 0, a.stderr()
    record_matches_files(dest)
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.0.5")
    assert list((tmp_path / "tmp-b").iterdir()) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_during_an_install_waits_then_removes_everything(installer: str, bucket: Path,
                                                                    tmp_path: Path) -> None:
    dest, go = tmp_path / "dest", tmp_path / "go"
    assert run_get(installer, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "t0").returncode == 0
    a = paused_install(installer, bucket, "v1.0.6", dest, tmp_path / "tmp-a", go)
    b = Background(installer, ["-U"], dest, tmp_path / "tmp-b", {})
    until(lambda: "waiting up to 60 s" in b.stderr(), "the uninstall waits", b)
    go.touch()
    assert a.wait() == 0, a.stderr()
    assert b.wait() == 0, b.stderr()
    assert [p for p in dest.rglob("*") if not p.is_dir()] == []
    assert not (dest / STATE).exists()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_install_during_an_uninstall_waits_then_installs(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest, go = tmp_path / "dest", tmp_path / "go"
    assert run_get(installer, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "t0").returncode == 0
    a = paused_install(installer, bucket, "", dest, tmp_path / "tmp-a", go, uninstall=True)
    b = Background(installer, args_for(bucket, "v1.0.6"), dest, tmp_path / "tmp-b", {})
    until(lambda: "waiting up to 60 s" in b.stderr(), "the install waits", b)
    go.touch()
    assert a.wait() == 0, a.stderr()
    assert b.wait() == 0, b.stderr()
    record_matches_files(dest)
    assert (dest / "usr/local/bin/crio").read_bytes().startswith(b"#!/bin/sh\necho crio v1.0.6")


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_holder_killed_with_kill_9_never_blocks(first: str, second: str, bucket: Path, tmp_path: Path) -> None:
    dest, go = tmp_path / "dest", tmp_path / "go"
    assert run_get(first, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "t0").returncode == 0
    before = snapshot(dest)
    a = paused_install(first, bucket, "v1.0.6", dest, tmp_path / "tmp-a", go)
    a.kill_group()
    assert (dest / STATE / "lock").is_file()
    assert snapshot(dest) != before
    # Not waiting at all: had the lock outlived its holder, this would be exit 18.
    b = run_get(second, ["-U"], destdir=dest, tmpdir=tmp_path / "tmp-b", env={"CRIO_GET_LOCK_TIMEOUT": "0"},
                in_process=False)
    assert b.returncode == 0, b.stderr
    assert "interrupted" in b.stderr
    assert [p for p in dest.rglob("*") if not p.is_dir()] == []


# --- a planted transaction is data ------------------------------------------------------------------

#: Transaction files ({D} DESTDIR, {V} the victim outside it, {E} an empty directory outside it).
PLANTED: dict[str, dict[str, str]] = {
    "dotdot": {"journal": "absent\t0\t{D}/../victim\n"},
    "outside-destdir": {"journal": "saved\t1\t{V}\n", "backup/1": "planted\n"},
    "backup-index-escape": {"journal": "saved\t../../x\t{D}/usr/local/bin/crio\n"},
    "dot-component": {"journal": "absent\t0\t{D}/usr/./local/../../../victim\n"},
    "symlinked-parent": {"journal": "absent\t0\t{D}/escape/victim\n"},
    "unknown-kind": {"journal": "rmtree\t0\t{D}/usr\n"},
    "statedirs-outside": {"journal": "", "statedirs": "{E}\n"},
    "statefiles-outside": {"journal": "", "statefiles": "{V}\n"},
    "journal-is-a-symlink": {},
}


def plant(dest: Path, victim: Path, empty: Path, files: dict[str, str], ready: bool = True) -> Path:
    txn = dest / STATE / "transaction"
    (txn / "backup").mkdir(parents=True)
    (dest / "escape").symlink_to(victim.parent)
    if ready:
        (txn / "ready").touch()
    for name, text in files.items():
        (txn / name).parent.mkdir(parents=True, exist_ok=True)
        (txn / name).write_text(text.replace("{D}", str(dest)).replace("{V}", str(victim)).replace("{E}", str(empty)))
    if not files:
        elsewhere = victim.parent / "journal-elsewhere"
        elsewhere.write_text(f"absent\t0\t{dest}/../victim\n")
        (txn / "journal").symlink_to(elsewhere)
    (txn.parent / "x").write_text("would be copied over crio\n")   # backup/../../x
    return txn


@pytest.mark.parametrize("action", ["install", "uninstall"])
@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("kind", list(PLANTED))
def test_a_planted_journal_is_refused_whole(kind: str, installer: str, action: str, bucket: Path,
                                            tmp_path: Path) -> None:
    dest, victim, empty = tmp_path / "dest", tmp_path / "victim", tmp_path / "empty"
    victim.write_text("precious\n")
    empty.mkdir()
    plant(dest, victim, empty, PLANTED[kind])
    before, around = snapshot(dest), snapshot(tmp_path)
    args = ["-U"] if action == "uninstall" else args_for(bucket, "v1.0.5")
    result = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp")
    line = refused(result, ExitCode.INSTALL)
    assert "not replayed" in line and "nothing was changed" in line
    assert victim.read_text() == "precious\n" and empty.is_dir()
    assert snapshot(dest) == before
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("tmp")} == \
        {k: v for k, v in around.items() if not k.startswith("tmp")}
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_journal_that_never_became_ready_is_dropped_not_replayed(installer: str, bucket: Path,
                                                                   tmp_path: Path) -> None:
    dest, victim, empty = tmp_path / "dest", tmp_path / "victim", tmp_path / "empty"
    victim.write_text("precious\n")
    empty.mkdir()
    plant(dest, victim, empty, PLANTED["dotdot"], ready=False)
    result = run_get(installer, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "tmp")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    (dest / "escape").unlink()
    record_matches_files(dest)


# --- a planted record line --------------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_planted_record_line_deletes_nothing_outside(installer: str, published, tmp_path: Path) -> None:
    dest, victim = tmp_path / "dest", tmp_path / "victim"
    victim.write_text("precious\n")
    args = ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG]
    assert run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp").returncode == 0
    record = dest / STATE / INSTALL_RECORD
    with open(record, "a") as handle:   # the victim's own sha256: "unchanged since installed"
        handle.write(f"/../victim\t{sha256(victim)}\t0644\tfile\n")
    before = snapshot(dest)

    # A separate process, so the install script's own message (written to fd 2) is captured too.
    removed = run_get(installer, ["-U"], destdir=dest, tmpdir=tmp_path / "tmp", in_process=False)
    refused(removed, ExitCode.INSTALL)
    assert "line" in removed.stderr and "not absolute and normalised" in removed.stderr
    reinstalled = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp")
    refused(reinstalled, ExitCode.INSTALL)

    assert victim.read_text() == "precious\n"
    assert snapshot(dest) == before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_planted_record_line_is_refused_even_for_a_script_that_does_not_check(installer: str, bucket: Path,
                                                                              tmp_path: Path) -> None:
    """The fixture script, like an older bundle's, removes every recorded path on --uninstall: the installer's
    own check of the record stops it first."""
    dest, victim = tmp_path / "dest", tmp_path / "victim"
    victim.write_text("precious\n")
    assert run_get(installer, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "tmp").returncode == 0
    with open(dest / STATE / INSTALL_RECORD, "a") as handle:
        handle.write(f"{dest}/../victim\t{sha256(victim)}\n")
    before = snapshot(dest)
    for args in (["-U"], args_for(bucket, "v1.0.6")):
        result = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp")
        assert "not absolute and normalised" in refused(result, ExitCode.INSTALL)
    assert victim.read_text() == "precious\n"
    assert snapshot(dest) == before


# --- the stored install script runs only as installed -----------------------------------------------

def tamper(script: Path, canary: Path) -> None:
    lines = script.read_text().split("\n", 1)
    script.write_text(f"{lines[0]}\ntouch {canary}\n{lines[1]}")


def drop_hash(script: Path, canary: Path) -> None:
    record = script.parent / INSTALL_RECORD
    record.write_text("".join(line for line in record.read_text().splitlines(keepends=True)
                              if not line.startswith("#install-script\t")))


def swap_for_link(script: Path, canary: Path) -> None:
    other = canary.parent / "other-install"
    other.write_text(f"#!/bin/sh\ntouch {canary}\n")
    script.unlink()
    script.symlink_to(other)


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("change", [tamper, drop_hash, swap_for_link], ids=["tampered", "no-hash", "symlink"])
def test_uninstall_refuses_a_stored_script_that_is_not_the_installed_one(change, installer: str, published,
                                                                        tmp_path: Path) -> None:
    dest, canary = tmp_path / "dest", tmp_path / "canary"
    args = ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG]
    assert run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp").returncode == 0
    script = dest / STATE / "install"
    assert f"#install-script\t{sha256(script)}\n" in (dest / STATE / INSTALL_RECORD).read_text()
    change(script, canary)
    before = snapshot(dest)
    result = run_get(installer, ["-U"], destdir=dest, tmpdir=tmp_path / "tmp")
    line = refused(result, ExitCode.VERIFICATION)
    assert "install script" in line
    assert not canary.exists()
    assert snapshot(dest) == before
    assert list((tmp_path / "tmp").iterdir()) == []


# --- path variables -----------------------------------------------------------------------------------

BAD_SETTINGS = {
    "prefix-dotdot": {"PREFIX": "/../x"},
    "bindir-dot": {"BINDIR": "/usr/./bin"},
    "relative": {"ETCDIR": "etc"},
    "empty-component": {"SYSTEMDDIR": "/usr//lib/systemd"},
    "trailing-slash": {"STATEDIR": "/var/lib/crio-install/"},
    "statedir-root": {"STATEDIR": "/"},
    "space": {"BINDIR": "/opt/my dir/bin"},
    "double-quote": {"BINDIR": '/opt/a"b'},
    "single-quote": {"ETCDIR": "/etc/a'b"},
    "newline": {"PREFIX": "/opt/a\nb"},
    "percent": {"BINDIR": "/opt/%h"},
    "dollar": {"SYSCONFIGDIR": "/etc/$HOME"},
    "backslash": {"CONTAINERS_DIR": "/etc/a\\b"},
    "destdir-dotdot": {"DESTDIR": "{dest}/../elsewhere"},
    "destdir-trailing": {"DESTDIR": "{dest}/"},
    "lock-timeout": {"CRIO_GET_LOCK_TIMEOUT": "soon"},
    "lock-timeout-negative": {"CRIO_GET_LOCK_TIMEOUT": "-1"},
}


@pytest.mark.parametrize("action", ["install", "uninstall"])
@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_path_variables_are_usage_errors_before_anything(case: str, installer: str, action: str,
                                                             published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {k: v.replace("{dest}", str(dest)) for k, v in BAD_SETTINGS[case].items()}
    args = ["-U"] if action == "uninstall" else ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG]
    result = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp", env=env)
    line = refused(result, ExitCode.USAGE)
    assert next(iter(env)) in line
    assert snapshot(tmp_path / "dest") == {} and not (tmp_path / "elsewhere").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def exec_start(unit: str) -> list[str]:
    """ExecStart= of a unit as systemd splits it: continuation lines joined, then words (quotes honoured)."""
    joined = unit.replace("\\\n", " ")
    value = next(line.split("=", 1)[1] for line in joined.splitlines() if line.startswith("ExecStart="))
    return shlex.split(value)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_accepted_special_characters_render_to_files_that_parse(installer: str, published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    prefix, sysconfig = "/opt/c+r,i:o=~&-x_1.2", "/etc/sys=conf~ig"
    env = {"PREFIX": prefix, "SYSCONFIGDIR": sysconfig, "OPT_CNI_BIN_DIR": "/opt/cni:bin,1",
           "LIBEXEC_CRIO_DIR": "/usr/lib=exec/c+r,io"}
    args = ["-a", "amd64", "-m", published.plain.as_uri(), "-t", TAG]
    result = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp", env=env)
    assert result.returncode == 0, result.stderr
    unit = (dest / prefix.lstrip("/") / "lib/systemd/system/crio.service").read_text()
    assert exec_start(unit)[0] == f"{prefix}/bin/crio"
    assert exec_start(unit)[1:] == ["$CRIO_CONFIG_OPTIONS", "$CRIO_RUNTIME_OPTIONS", "$CRIO_STORAGE_OPTIONS",
                                    "$CRIO_NETWORK_OPTIONS", "$CRIO_METRICS_OPTIONS"]
    assert f"EnvironmentFile=-{sysconfig}/crio\n" in unit
    conf = tomllib.loads((dest / "etc/crio/crio.conf.d/10-crio.conf").read_text())
    assert conf["crio"]["runtime"]["runtimes"]["crun"]["runtime_path"] == "/usr/lib=exec/c+r,io/crun"
    assert conf["crio"]["network"]["plugin_dirs"] == ["/opt/cni:bin,1"]
    assert (dest / "etc/sys=conf~ig/crio").is_file()
    removed = run_get(installer, ["-U"], destdir=dest, tmpdir=tmp_path / "tmp", env=env)
    assert removed.returncode == 0, removed.stderr
    assert [p for p in dest.rglob("*") if not p.is_dir()] == []


@pytest.mark.parametrize("value", ["/opt/my dir", '/opt/a"b', "/opt/a%b", "/opt/a$b", "/opt/a\\b", "/opt/a\nb",
                                   "/opt/../b", "/opt/./b"])
def test_the_install_script_itself_refuses_what_would_break_a_rendered_file(value: str, tmp_path: Path) -> None:
    bundle = make_bundle_tree(tmp_path / "b", via_tar=False)
    dest = tmp_path / "dest"
    out = run_install(bundle / "install", env=install_env(DESTDIR=str(dest), BINDIR=value))
    assert out.returncode == ExitCode.USAGE, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("install: error: BINDIR=")
    assert not dest.exists()


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("target", ["victim", "absent-file"])
def test_a_planted_lock_link_is_refused(target: str, installer: str, bucket: Path, tmp_path: Path) -> None:
    dest, victim = tmp_path / "dest", tmp_path / "victim"
    victim.write_text("precious\n")
    (dest / STATE).mkdir(parents=True)
    (dest / STATE / "lock").symlink_to(tmp_path / target)
    result = run_get(installer, args_for(bucket, "v1.0.5"), destdir=dest, tmpdir=tmp_path / "tmp")
    assert "lock" in refused(result, ExitCode.INSTALL)
    assert victim.read_text() == "precious\n" and not (tmp_path / "absent-file").exists()
    assert (dest / STATE / "lock").is_symlink() and not (dest / "usr").exists()


@pytest.mark.parametrize("action", ["install", "uninstall"])
@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_state_dir_symlinked_out_of_destdir_is_not_used(installer: str, action: str, bucket: Path,
                                                          tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    (dest / "var").mkdir(parents=True)
    (dest / "var/lib").symlink_to(outside)
    args = ["-U"] if action == "uninstall" else args_for(bucket, "v1.0.5")
    result = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp")
    assert "outside DESTDIR" in refused(result, ExitCode.INSTALL)
    assert list(outside.iterdir()) == [] and not (dest / "usr").exists()
