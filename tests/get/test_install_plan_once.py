"""crio-get runs the bundle's install script once: it sends its plan, waits for `go`, installs that plan.

The real install script, with test hooks spliced in (each does nothing unless its CRIO_TEST_* variable
is set): every run logs its arguments (runs are counted), and between the plan and the go-ahead it
can stop its parent (crio-get, then killed with SIGKILL), leave its pid and plan in files, or edit a
config on disk. The script is also run by hand with the two descriptors, answered with end of file or
with something other than `go`: it exits 7 and nothing under DESTDIR (or in the bundle) changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crio_installer.planned_run import PLAN_MAX_BYTES
from helpers.bundle_install import BUNDLE_FILES, make_bundle_tree, write_manifest
from helpers.get_fixtures import (
    installer_command,
    lay_out_bucket,
    run_get,
    snapshot,
    write_side_files,
    write_tarball,
)

from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    BUNDLE_TOP,
    CAPABILITY_PLAN_FD,
    INSTALL_PLAN_END,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    tarball_name,
)
from crio.errors import ExitCode
from crio.record import parse_record

STATE = INSTALL_STATE_DIR.lstrip("/")
OLD, NEW, NO_WORD = "v1.40.0", "v1.40.1", "v1.40.2"
#: The line of the scripts released before plan-fd: planned with --list, then run again.
LINE_BEFORE = "# crio-install-capabilities: list uninstall record-meta verified-tarball move-sources file-sums"
SHIPPED = (BUNDLE_FILES / BUNDLE_INSTALL_SCRIPT).read_text()
HOOKS = {
    "\nmain() {\n": '\nmain() {\n    printf \'%s\\n\' "$*" >>"${CRIO_TEST_INSTALL_LOG:-/dev/null}"\n',
    '    say "$PLAN_END" >&"$PLAN_FD"\n':
        '    if [ -n "${CRIO_TEST_NO_END:-}" ]; then exit "$CRIO_TEST_NO_END"; fi\n'
        '    if [ -n "${CRIO_TEST_BIG_PLAN:-}" ]; then head -c 5000000 /dev/zero | tr "\\0" a >&"$PLAN_FD"; fi\n'
        '    if [ -n "${CRIO_TEST_STOP_PARENT:-}" ]; then kill -STOP "$PPID"; fi\n'
        '    if [ -n "${CRIO_TEST_EXTRA_PATH:-}" ]; then say "$CRIO_TEST_EXTRA_PATH" >&"$PLAN_FD"; fi\n'
        '    say "$PLAN_END" >&"$PLAN_FD"\n',
    "\nawait_go() {\n":
        '\nawait_go() {\n'
        '    if [ -n "${CRIO_TEST_PLAN:-}" ]; then list_install >"$CRIO_TEST_PLAN"; fi\n'
        '    if [ -n "${CRIO_TEST_EDIT:-}" ]; then printf \'edited\\n\' >>"$CRIO_TEST_EDIT"; fi\n'
        '    if [ -n "${CRIO_TEST_MARK:-}" ]; then echo "$$" >"$CRIO_TEST_MARK"; fi\n',
}


def hooked_script(line: str | None = None) -> str:
    text = SHIPPED
    for old, new in HOOKS.items():
        assert text.count(old) == 1, f"hook point gone from the install script: {old!r}"
        text = text.replace(old, new)
    if line is not None:
        first, shipped_line, rest = text.split("\n", 2)
        assert CAPABILITY_PLAN_FD in shipped_line.split()
        text = "\n".join([first, line, rest])
    return text


def bundle_tarball(root: Path, revision: str, script: str) -> Path:
    src = make_bundle_tree(root / revision, {f"bin/{n}": f"{n} {revision}\n".encode() for n in ("crio", "pinns")},
                           via_tar=False)
    (src / BUNDLE_INSTALL_SCRIPT).write_text(script)
    write_manifest(src)
    members = {p.relative_to(src).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
               for p in sorted(src.rglob("*")) if p.is_file()}
    (root / "build").mkdir(exist_ok=True)
    tarball = write_tarball(root / "build" / tarball_name("amd64", revision), members)
    write_side_files(tarball)
    return tarball


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan-once")
    tarballs = [bundle_tarball(root, OLD, SHIPPED), bundle_tarball(root, NEW, hooked_script()),
                bundle_tarball(root, NO_WORD, hooked_script(LINE_BEFORE))]
    return lay_out_bucket(root / "bucket", tarballs)


def get(bucket: Path, revision: str, dest: Path, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_get("python", ["-a", "amd64", "--url", bucket.as_uri(), "-t", revision], destdir=dest,
                   tmpdir=tmp, env={"HOME": str(tmp), **env})


def destinations(dest: Path) -> dict[str, tuple[str, int, bytes]]:
    """The tree below DESTDIR without the lock and crio-get's private staging directories (its own, swept)."""
    return {k: v for k, v in snapshot(dest).items()
            if k != f"{STATE}/lock" and not k.startswith(f"{STATE}/staging.")}


def installed_revision(dest: Path) -> str:
    return parse_record((dest / STATE / INSTALL_RECORD).read_text()).meta["revision"]


def test_crio_get_runs_the_script_once_and_journals_its_plan(bucket: Path, tmp_path: Path) -> None:
    log, plan, dest = tmp_path / "runs.log", tmp_path / "plan", tmp_path / "dest"
    result = get(bucket, NEW, dest, tmp_path / "tmp", CRIO_TEST_INSTALL_LOG=str(log), CRIO_TEST_PLAN=str(plan))
    assert result.returncode == 0, result.stdout + result.stderr
    runs = log.read_text().splitlines()
    assert len(runs) == 1 and {"--plan-fd", "--go-fd", "--move-sources"} <= set(runs[0].split()), runs
    assert "--list" not in runs[0].split()
    assert installed_revision(dest) == NEW
    # Every file the record says was written is a path of the plan sent.
    planned = set(plan.read_text().splitlines())
    rows = parse_record((dest / STATE / INSTALL_RECORD).read_text()).rows
    written = {f"{dest}{row.path}" for row in rows if row.kind != "dir"}
    assert written and written <= planned, written - planned


def test_a_script_without_the_word_is_planned_with_list_and_run_again(bucket: Path, tmp_path: Path) -> None:
    log, dest = tmp_path / "runs.log", tmp_path / "dest"
    result = get(bucket, NO_WORD, dest, tmp_path / "tmp", CRIO_TEST_INSTALL_LOG=str(log))
    assert result.returncode == 0, result.stdout + result.stderr
    runs = log.read_text().splitlines()
    assert [run.split()[0] for run in runs] == ["--list", "--verified-tarball"], runs
    assert "--plan-fd" not in " ".join(runs).split()
    assert installed_revision(dest) == NO_WORD


def test_a_config_edited_between_plan_and_write_changes_nothing_of_the_plan(bucket: Path, tmp_path: Path) -> None:
    """Two runs would plan again and could write FILE.crio-new, a path no journal covered; one run writes its plan."""
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    assert get(bucket, OLD, dest, tmp).returncode == 0
    config = dest / "etc/crictl.yaml"
    assert config.is_file()
    plan = tmp_path / "plan"
    result = get(bucket, NEW, dest, tmp, CRIO_TEST_PLAN=str(plan), CRIO_TEST_EDIT=str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    planned = set(plan.read_text().splitlines())
    assert str(config) in planned                          # planned as ours and unchanged: replaced
    assert not list(dest.rglob("*.crio-new"))
    assert "edited" not in config.read_text()
    rows = parse_record((dest / STATE / INSTALL_RECORD).read_text()).rows
    assert {f"{dest}{row.path}" for row in rows if row.kind != "dir"} <= planned
    assert installed_revision(dest) == NEW


def wait_for(path: Path, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def wait_gone(pid: int, seconds: float = 30) -> None:
    """Until process `pid` has exited (or is a zombie nobody reaped yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):
            return
        assert time.monotonic() < deadline, f"the install script ({pid}) did not exit without its go-ahead"
        time.sleep(0.02)


def test_crio_get_killed_between_plan_and_go_changes_nothing(bucket: Path, tmp_path: Path) -> None:
    """The script stops crio-get right before the plan's last line; crio-get is SIGKILLed there: the script
    reads end of file on its go pipe and exits, nothing changed; the next install recovers and installs."""
    dest, tmp, mark = tmp_path / "dest", tmp_path / "tmp", tmp_path / "mark"
    assert get(bucket, OLD, dest, tmp).returncode == 0
    before = destinations(dest)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp), "DESTDIR": str(dest),
           "CRIO_TEST_STOP_PARENT": "1", "CRIO_TEST_MARK": str(mark)}
    proc = subprocess.Popen([*installer_command("python"), "-a", "amd64", "--url", bucket.as_uri(), "-t", NEW,
                             "--insecure-skip-signature-verification"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        script_pid = int(wait_for(mark))
    finally:
        proc.kill()
        proc.wait()
    wait_gone(script_pid)
    assert destinations(dest) == before
    assert installed_revision(dest) == OLD
    result = get(bucket, NEW, dest, tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_revision(dest) == NEW
    assert not [name for name in os.listdir(dest / STATE) if name.startswith("staging.")]


KILLED_AFTER_JOURNAL = """
import os, signal, sys
from pathlib import Path
from crio_installer import transaction

def log(message: str) -> None:
    if message.startswith("installing"):      # journaled (begin), `go` not yet written
        os.kill(os.getpid(), signal.SIGKILL)

transaction.install_bundle(Path(sys.argv[1]), sys.argv[2], log)
"""


def test_killed_after_journaling_before_go_the_next_run_restores_and_installs(bucket: Path,
                                                                               tmp_path: Path) -> None:
    dest, tmp, mark = tmp_path / "dest", tmp_path / "tmp", tmp_path / "mark"
    assert get(bucket, OLD, dest, tmp).returncode == 0
    before = destinations(dest)
    staging = tmp_path / "staging"
    unpacked(bucket, NEW, staging)
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_JOURNAL, str(staging), str(dest)],
                            env={**os.environ, "DESTDIR": str(dest), "CRIO_TEST_MARK": str(mark)},
                            capture_output=True, text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (dest / STATE / "transaction" / "ready").exists()          # it was journaled
    wait_gone(int(wait_for(mark)))                                    # and the script exits without `go`
    assert {k: v for k, v in destinations(dest).items() if not k.startswith(f"{STATE}/transaction")} == before
    assert get(bucket, NEW, dest, tmp).returncode == 0
    assert installed_revision(dest) == NEW


@pytest.mark.parametrize(("env", "message"), [
    ({"CRIO_TEST_NO_END": "0"}, "exited before sending its whole plan (exit 0)"),
    ({"CRIO_TEST_NO_END": "3"}, "exited before sending its whole plan (exit 3)"),
    ({"CRIO_TEST_BIG_PLAN": "1"}, f"sent a plan of more than {PLAN_MAX_BYTES} bytes"),
])
def test_a_plan_cut_short_or_too_long_fails_with_nothing_changed(env: dict[str, str], message: str,
                                                                  bucket: Path, tmp_path: Path) -> None:
    dest, tmp = tmp_path / "dest", tmp_path / "tmp"
    assert get(bucket, OLD, dest, tmp).returncode == 0
    before = destinations(dest)
    result = get(bucket, NEW, dest, tmp, **env)
    assert result.returncode == ExitCode.INSTALL, result.stdout + result.stderr
    assert message in result.stderr and "nothing was changed" in result.stderr
    assert destinations(dest) == before
    assert not (dest / STATE / "transaction").exists()


def test_a_plan_crio_get_refuses_is_never_installed(bucket: Path, tmp_path: Path) -> None:
    """A path outside DESTDIR in the plan: crio-get refuses it before `go` (exit 7), the script waiting for its
    go-ahead reads end of file and exits, and nothing changed."""
    dest, tmp, mark = tmp_path / "dest", tmp_path / "tmp", tmp_path / "mark"
    assert get(bucket, OLD, dest, tmp).returncode == 0
    before = destinations(dest)
    result = get(bucket, NEW, dest, tmp, CRIO_TEST_EXTRA_PATH=str(tmp_path / "elsewhere"), CRIO_TEST_MARK=str(mark))
    assert result.returncode == ExitCode.INSTALL, result.stdout + result.stderr
    assert "which is not a destination of this install" in result.stderr
    wait_gone(int(wait_for(mark)))
    assert destinations(dest) == before
    assert not (dest / STATE / "transaction").exists() and not (tmp_path / "elsewhere").exists()


# --- the script by hand -------------------------------------------------------------------------


def unpacked(bucket: Path, revision: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    tarball = next((bucket / "artifacts").rglob(tarball_name("amd64", revision)))
    subprocess.run(["tar", "xzf", str(tarball), "-C", str(into)], check=True)
    return into / BUNDLE_TOP


def run_planned(bundle: Path, dest: Path, answer: bytes | None, *extra: str) -> tuple[int, str, str]:
    """The script with --plan-fd/--go-fd on two pipes: its exit code, the plan it sent and its stderr.
    `answer` is written to the go pipe once the plan is read (None: the pipe is closed, end of file)."""
    plan_read, plan_write = os.pipe()
    go_read, go_write = os.pipe()
    proc = subprocess.Popen(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", *extra, "--plan-fd", str(plan_write),
                             "--go-fd", str(go_read)], cwd=bundle, pass_fds=(plan_write, go_read),
                            env={"PATH": os.environ["PATH"], "DESTDIR": str(dest)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.close(plan_write)
    os.close(go_read)
    with os.fdopen(plan_read, "rb") as handle:
        plan = handle.read().decode()
    if answer is not None:
        os.write(go_write, answer)
    os.close(go_write)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, plan, err


@pytest.mark.parametrize("answer", [None, b"", b"no\n", b"go", b"GO\n", b"go \n", b"gogo\n"])
def test_without_go_the_script_exits_7_having_written_nothing(answer: bytes | None, bucket: Path,
                                                              tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(bucket, OLD, dest, tmp_path / "tmp").returncode == 0
    (dest / "etc/crictl.yaml").write_text("changed by the admin\n")      # the plan writes beside it
    bundle = unpacked(bucket, NEW, tmp_path / "bundle")
    before, bundle_before = snapshot(dest), snapshot(bundle)
    listed = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", "--list"], cwd=bundle, capture_output=True,
                            text=True, check=True, env={"PATH": os.environ["PATH"], "DESTDIR": str(dest)}).stdout
    code, plan, err = run_planned(bundle, dest, answer, "--verified-tarball", "a" * 64, "--move-sources")
    assert code == ExitCode.INSTALL, err
    assert "nothing was installed" in err
    assert plan == listed + INSTALL_PLAN_END + "\n"                  # exactly what --list prints, then the end
    assert f"{dest}/etc/crictl.yaml.crio-new" in plan.splitlines()
    assert snapshot(dest) == before
    assert snapshot(bundle) == bundle_before                         # --move-sources used nothing up


def test_with_go_the_script_installs_the_plan_it_sent(bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    bundle = unpacked(bucket, NEW, tmp_path / "bundle")
    code, plan, err = run_planned(bundle, dest, b"go\n")
    assert code == 0, err
    lines = plan.splitlines()
    assert lines[-1] == INSTALL_PLAN_END
    rows = parse_record((dest / STATE / INSTALL_RECORD).read_text()).rows
    written = {f"{dest}{row.path}" for row in rows if row.kind != "dir"}
    assert written <= set(lines[:-1]) and f"{dest}/{STATE}/{INSTALL_RECORD}" in lines


@pytest.mark.parametrize("args", [
    ["--plan-fd", "7"], ["--go-fd", "7"], ["--plan-fd", "2", "--go-fd", "7"], ["--plan-fd", "7", "--go-fd", "7"],
    ["--plan-fd", "x", "--go-fd", "7"], ["--plan-fd", "8", "--go-fd", "9"], ["--plan-fd"],
    ["--list", "--plan-fd", "7", "--go-fd", "7"], ["--uninstall", "--plan-fd", "6", "--go-fd", "7"],
])
def test_bad_plan_descriptors_are_a_usage_error(args: list[str], tmp_path: Path) -> None:
    """Descriptors 6 and 7 are open (pipes), 8 and 9 are not."""
    six_r, six_w = os.pipe()
    seven_r, seven_w = os.pipe()
    try:
        os.dup2(six_w, 106)
        os.dup2(seven_r, 107)
        result = subprocess.run(["bash", "-c", 'exec 6>&106 7<&107 106>&- 107<&-; exec bash "$0" "$@"',
                                 str(BUNDLE_FILES / BUNDLE_INSTALL_SCRIPT), *args], pass_fds=(106, 107),
                                env={"PATH": os.environ["PATH"], "DESTDIR": str(tmp_path / "dest")},
                                capture_output=True, text=True, check=False, timeout=60)
    finally:
        for fd in (six_r, six_w, seven_r, seven_w, 106, 107):
            os.close(fd)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "accepted are" in result.stderr or "go together" in result.stderr or "needs" in result.stderr
    assert not (tmp_path / "dest").exists()
