"""`--verify [--strict] [--json]` and `--status [--json]`, both installers, the same bytes out (issue 18 items 1, 3).

A real bundle (tests/get/conftest.py) is installed once by crio-get into a template root; each test works on
its own copy (modes and contents kept), changes it the way an operator or an attacker would, and runs both
installers on it: they must print the same lines and exit with the same code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from helpers.get_fixtures import INSTALLERS, run_get, snapshot

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR
from crio.errors import ExitCode
from crio.record import parse_record, rows_by_path

TAG = "v1.21.0"

STATE = INSTALL_STATE_DIR.lstrip("/")
BIN = "usr/local/bin/crio-status"
MAN = "usr/local/share/man/man8/crio-status.8"
FISH = "usr/local/share/fish/completions/crio-status.fish"
ZSH = "usr/local/share/zsh/site-functions/_crio-status"
BASHC = "usr/local/share/bash-completion/completions/crio-status"
CONFIG = "etc/crictl.yaml"
DIR = "usr/local/share/oci-umount/oci-umount.d"
DIR_FILE = "usr/local/share/oci-umount/oci-umount.d/crio-umount.conf"


@pytest.fixture(scope="module")
def template(published, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify-template")
    dest = root / "dest"
    args = ["-a", "amd64", "--url", published.plain.as_uri(), "-t", TAG]
    result = run_get("python", args, destdir=dest, tmpdir=root / "tmp")
    assert result.returncode == 0, result.stderr
    return dest


@pytest.fixture
def node(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "dest"
    shutil.copytree(template, dest, symlinks=True)
    return dest


def both(args: list[str], dest: Path, tmp_path: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    """Run both installers; they must agree on stdout, stderr and exit code. The bash result is returned."""
    results = {installer: run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp", env=env)
               for installer in INSTALLERS}
    bash, python = results["bash"], results["python"]
    assert (bash.returncode, bash.stdout) == (python.returncode, python.stdout), \
        f"bash:\n{bash.stdout}{bash.stderr}\npython:\n{python.stdout}{python.stderr}"
    assert bash.stderr == python.stderr
    return bash


def record_rows(dest: Path) -> int:
    """Distinct recorded paths, plus the stored install script."""
    return len(rows_by_path(parse_record((dest / STATE / INSTALL_RECORD).read_text()))) + 1


def summary(dest: Path, missing: int = 0, changed: int = 0, config: int = 0, failed: int = 0,
            previous: int | None = None) -> str:
    line = (f"summary  checked={record_rows(dest)} missing={missing} changed={changed} config={config} "
            f"failed={failed} result={'failed' if failed else 'ok'}")
    return line + ("" if previous is None else f" previous-bytes={previous}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- findings ---------------------------------------------------------------------------------------

def test_a_clean_node_exits_0_with_only_the_summary(node: Path, tmp_path: Path) -> None:
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == 0
    assert result.stdout == summary(node) + "\n"
    assert result.stderr == ""


def test_each_finding_kind_one_line_path_last(node: Path, tmp_path: Path) -> None:
    (node / BIN).unlink()
    (node / BIN).symlink_to("/bin/true")                       # a file became a link
    (node / FISH).unlink()                                     # missing
    (node / MAN).chmod(0o600)                                  # mode
    with open(node / ZSH, "a") as handle:                      # content
        handle.write("# changed\n")
    (node / BASHC).unlink()
    (node / BASHC).mkdir()                                     # a file became a directory
    (node / DIR_FILE).unlink()
    (node / DIR).rmdir()
    (node / DIR).write_text("not a dir\n")                     # a dir became a file
    (node / STATE / "install").chmod(0o700)                    # the stored script: its mode is not recorded
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == ExitCode.INSTALLED_DIFFERS
    lines = result.stdout.splitlines()
    expected = {
        f"changed  type    file    {node / BIN}",
        f"missing  -       file    {node / FISH}",
        f"changed  mode    file    {node / MAN}",
        f"changed  sha256  file    {node / ZSH}",
        f"changed  type    file    {node / BASHC}",
        f"changed  type    dir     {node / DIR}",
        f"missing  -       config  {node / DIR_FILE}",
    }
    assert set(lines[:-1]) == expected and len(lines) == len(expected) + 1
    assert lines[-1] == summary(node, missing=1, changed=5, config=1, failed=6)
    assert "error: installed files differ from the install record" in result.stderr


def test_mode_and_content_both_changed_are_two_lines(node: Path, tmp_path: Path) -> None:
    with open(node / MAN, "a") as handle:
        handle.write("x")
    (node / MAN).chmod(0o4755)                                  # setuid counts as a mode change
    result = both(["--verify"], node, tmp_path)
    assert result.stdout.splitlines() == [f"changed  mode    file    {node / MAN}",
                                          f"changed  sha256  file    {node / MAN}",
                                          summary(node, changed=1, failed=1)]


def test_a_changed_config_is_reported_but_fails_only_with_strict(node: Path, tmp_path: Path) -> None:
    with open(node / CONFIG, "a") as handle:
        handle.write("debug: true\n")
    line = f"changed  sha256  config  {node / CONFIG}"
    relaxed = both(["--verify"], node, tmp_path)
    assert relaxed.returncode == 0
    assert relaxed.stdout.splitlines() == [line, summary(node, config=1)]
    strict = both(["--verify", "--strict"], node, tmp_path)
    assert strict.returncode == ExitCode.INSTALLED_DIFFERS
    assert strict.stdout.splitlines() == [line, summary(node, config=1, failed=1)]


def test_a_changed_stored_install_script_is_a_finding(node: Path, tmp_path: Path) -> None:
    script = node / STATE / "install"
    script.write_text(script.read_text() + "# planted\n")
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == ExitCode.INSTALLED_DIFFERS
    assert result.stdout.splitlines()[0] == f"changed  sha256  file    {script}"


def test_a_symlink_to_the_identical_content_is_still_a_type_change(node: Path, tmp_path: Path) -> None:
    """Never followed: a link to a copy of the installed bytes is not the installed file."""
    copy = tmp_path / "copy"
    shutil.copy2(node / BIN, copy)
    (node / BIN).unlink()
    (node / BIN).symlink_to(copy)
    result = both(["--verify", "--json"], node, tmp_path)
    finding = json.loads(result.stdout)["findings"]
    assert finding == [{"state": "changed", "what": "type", "kind": "file", "path": str(node / BIN),
                        "expected": "file", "actual": "link"}]


# --- JSON ---------------------------------------------------------------------------------------------

def test_json_is_one_object_with_findings_and_summary(node: Path, tmp_path: Path) -> None:
    (node / MAN).chmod(0o600)
    with open(node / CONFIG, "a") as handle:
        handle.write("x: 1\n")
    (node / FISH).unlink()
    result = both(["--verify", "--json"], node, tmp_path)
    assert result.returncode == ExitCode.INSTALLED_DIFFERS
    assert result.stdout.count("\n") == 1
    report = json.loads(result.stdout)
    assert list(report) == ["record", "findings", "summary"]
    assert report["record"] == str(node / STATE / INSTALL_RECORD)
    by_path = {f["path"]: f for f in report["findings"]}
    assert by_path[str(node / MAN)] == {"state": "changed", "what": "mode", "kind": "file",
                                        "path": str(node / MAN), "expected": "0644", "actual": "0600"}
    assert by_path[str(node / CONFIG)]["actual"] == sha256(node / CONFIG)
    assert by_path[str(node / FISH)] == {"state": "missing", "what": "-", "kind": "file", "path": str(node / FISH),
                                         "expected": None, "actual": None}
    assert report["summary"] == {"checked": record_rows(node), "missing": 1, "changed": 1, "config": 1,
                                 "failed": 2, "strict": False, "result": "failed", "previous_bytes": None}


def test_json_escapes_an_unusual_destdir_the_same_way(template: Path, tmp_path: Path) -> None:
    """DESTDIR may hold any character but tab and newline: quotes, backslashes, control characters."""
    dest = tmp_path / 'de"st\\x\x01\x1b[31m é'
    shutil.copytree(template, dest, symlinks=True)
    (dest / FISH).unlink()
    result = both(["--verify", "--json"], dest, tmp_path)
    report = json.loads(result.stdout)
    assert report["findings"][0]["path"] == str(dest / FISH)
    assert "\\u0001" in result.stdout and "\\u001b" in result.stdout


# --- the record first; read only; the lock -----------------------------------------------------------------

BAD_RECORDS = {
    "dotdot-path": "/../victim\t{sha}\t0644\tfile\n",
    "relative-path": "etc/x\t{sha}\t0644\tfile\n",
    "three-fields": "/etc/x\t{sha}\t0644\n",
    "bad-kind": "/etc/x\t{sha}\t0644\tsocket\n",
    "short-sha": "/etc/x\tabc\t0644\tfile\n",
    "dir-with-sha": "/etc/x\t{sha}\t0755\tdir\n",
    "bad-mode": "/etc/x\t{sha}\t644\tfile\n",
    "blank-line": "\n/etc/x\t{sha}\t0644\tfile\n",
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_a_record_failing_its_rules_is_an_error_not_findings(case: str, node: Path, tmp_path: Path) -> None:
    record = node / STATE / INSTALL_RECORD
    with open(record, "a") as handle:
        handle.write(BAD_RECORDS[case].format(sha="ab" * 32))
    (node / FISH).unlink()
    before = snapshot(node)
    for args in (["--verify"], ["--verify", "--json"], ["--status"]):
        result = both(args, node, tmp_path)
        assert result.returncode == ExitCode.INSTALL, result.stderr
        assert result.stdout == ""
        assert result.stderr.startswith("crio-get: error: ") and result.stderr.count("\n") == 1
        assert str(record) in result.stderr or "record row for" in result.stderr
    assert snapshot(node) == before


@pytest.mark.parametrize("case", ["missing", "symlink", "directory"])
def test_no_usable_record_is_an_error(case: str, node: Path, tmp_path: Path) -> None:
    record = node / STATE / INSTALL_RECORD
    other = tmp_path / "elsewhere.tsv"
    shutil.copy2(record, other)
    record.unlink()
    if case == "symlink":
        record.symlink_to(other)
    elif case == "directory":
        record.mkdir()
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == ExitCode.INSTALL and result.stdout == ""
    assert ("no installation recorded" if case == "missing" else "is not a regular file") in result.stderr


def test_an_interrupted_transaction_is_a_warning_and_left_alone(node: Path, tmp_path: Path) -> None:
    (node / STATE / "transaction").mkdir()
    (node / STATE / "transaction" / "journal").write_text(f"absent\t0\t{node / BIN}\n")
    before = snapshot(node)
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == 0 and result.stdout == summary(node) + "\n"
    assert "WARNING: an interrupted install left" in result.stderr
    assert snapshot(node) == before


def test_verify_writes_nothing_and_creates_no_lock(node: Path, tmp_path: Path) -> None:
    (node / STATE / "lock").unlink()     # as an older installer left the root
    (node / FISH).unlink()
    (node / MAN).chmod(0o600)
    before, around = snapshot(node), snapshot(tmp_path)
    for args in (["--verify"], ["--verify", "--json", "--strict"], ["--status"], ["--status", "--json"]):
        both(args, node, tmp_path)
    assert snapshot(node) == before
    assert not (node / STATE / "lock").exists()
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("tmp")} == \
        {k: v for k, v in around.items() if not k.startswith("tmp")}
    assert list((tmp_path / "tmp").iterdir()) == []


def test_verify_waits_for_an_install_but_not_for_another_reader(node: Path, tmp_path: Path) -> None:
    lock = node / STATE / "lock"
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_SH)              # another --verify
        assert both(["--verify"], node, tmp_path).returncode == 0
        fcntl.flock(held, fcntl.LOCK_UN)
        fcntl.flock(held, fcntl.LOCK_EX)              # an install
        for installer in INSTALLERS:
            result = run_get(installer, ["--verify"], destdir=node, tmpdir=tmp_path / "tmp",
                             env={"CRIO_GET_LOCK_TIMEOUT": "0"})
            assert result.returncode == ExitCode.LOCKED, result.stderr
            assert result.stdout == "" and "holds the lock" in result.stderr


# --- a kept previous installation ------------------------------------------------------------------------

def test_the_space_a_kept_previous_installation_takes_is_reported(node: Path, tmp_path: Path) -> None:
    previous = node / STATE / "previous"
    (previous / "usr/local/bin").mkdir(parents=True)
    (previous / "usr/local/bin/crio").write_bytes(b"x" * 3000)
    os.link(previous / "usr/local/bin/crio", previous / "usr/local/bin/crio.hardlink")   # counted once
    (previous / "record.tsv").write_bytes(b"y" * 100)
    (previous / "usr/local/bin/link").symlink_to("/" + BIN)                                # not followed
    result = both(["--verify"], node, tmp_path)
    assert result.returncode == 0
    assert result.stdout == summary(node, previous=3100) + "\n"
    status = json.loads(both(["--status", "--json"], node, tmp_path).stdout)
    assert (status["previous_kept"], status["previous_bytes"]) == (True, 3100)
    assert f"previous installation: kept (3100 bytes in {previous})" in both(["--status"], node, tmp_path).stdout


# --- --status ---------------------------------------------------------------------------------------------

def fingerprint(public_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "key-sha256:" + hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("installer", INSTALLERS)
def test_status_shows_what_the_record_says(installer: str, published, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    args = ["-a", "amd64", "--url", published.signed.as_uri(), "-t", "v1.21", "-k", str(published.public_key)]
    start = int(time.time())
    installed = run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp")
    assert installed.returncode == 0, installed.stderr
    end = int(time.time())
    status = json.loads(both(["--status", "--json"], dest, tmp_path).stdout)
    assert start <= status.pop("install_time") <= end
    assert status == {"installed": True, "record": str(dest / STATE / INSTALL_RECORD), "revision": TAG,
                      "arch": "amd64", "channel": "latest-1.21.txt", "build_time": 1700000000,
                      "signer": fingerprint(published.public_key.read_bytes()), "previous_kept": False,
                      "previous_bytes": None}
    text = both(["--status"], dest, tmp_path)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[:5] == ["installed: yes", f"revision: {TAG}", "arch: amd64", "channel: latest-1.21.txt",
                         "build time: 2023-11-14T22:13:20Z (1700000000)"]
    assert lines[5] == f"signer: {fingerprint(published.public_key.read_bytes())}"
    assert lines[6].startswith("install time: 20") and lines[7:] == [
        "previous installation: none", f"record: {dest / STATE / INSTALL_RECORD}"]
    assert both(["--verify"], dest, tmp_path).returncode == 0


@pytest.mark.parametrize("installer", INSTALLERS)
def test_status_says_when_signatures_were_skipped(installer: str, published, tmp_path: Path) -> None:
    """Signatures are required by default: an install without one was told to skip them, and says so."""
    dest = tmp_path / "dest"
    args = ["-a", "amd64", "--url", published.signed.as_uri(), "-t", TAG, "--insecure-skip-signature-verification"]
    assert run_get(installer, args, destdir=dest, tmpdir=tmp_path / "tmp").returncode == 0
    status = json.loads(both(["--status", "--json"], dest, tmp_path).stdout)
    assert status["signer"] == "skipped"
    assert status["channel"] == "-t"


def test_status_of_an_older_record_says_unknown(node: Path, tmp_path: Path) -> None:
    record = node / STATE / INSTALL_RECORD
    record.write_text("".join(line for line in record.read_text().splitlines(keepends=True)
                              if not line.startswith(("#build-time", "#revision"))) + "")
    lines = both(["--status"], node, tmp_path).stdout.splitlines()
    assert "revision: unknown (not recorded)" in lines and "build time: unknown (not recorded)" in lines


def test_status_shows_no_terminal_escapes_from_the_record(node: Path, tmp_path: Path) -> None:
    record = node / STATE / INSTALL_RECORD
    record.write_text("#revision\tv1.21.0\x1b]0;owned\x07\n#arch\t" + "a" * 300 + "\n" + record.read_text())
    result = both(["--status", "--json"], node, tmp_path)
    status = json.loads(result.stdout)
    assert status["revision"] is None and status["arch"] is None
    assert "\x1b" not in both(["--status"], node, tmp_path).stdout


def test_status_without_an_installation(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    text = both(["--status"], dest, tmp_path)
    assert text.returncode == 0
    assert text.stdout == f"installed: no\nrecord: {dest / STATE / INSTALL_RECORD} (not found)\n"
    assert json.loads(both(["--status", "--json"], dest, tmp_path).stdout) == {
        "installed": False, "record": str(dest / STATE / INSTALL_RECORD)}
    assert snapshot(dest) == {}


# --- usage ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--strict"], ["--json"], ["--verify", "--status"], ["--status", "--strict"],
                                  ["--verify", "-t", TAG], ["--status", "-U"], ["--verify", "-n"],
                                  ["--verify", "--allow-downgrade"]])
def test_options_that_do_not_go_together_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    result = both(args, dest, tmp_path)
    assert result.returncode == ExitCode.USAGE and result.stdout == ""
    assert snapshot(dest) == {}
