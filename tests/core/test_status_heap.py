"""`crio-status heap`: upstream's spellings and default name, written whole, never over an existing file."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers.crio_api import HEAP, CrioApiServer, run_status

from crio.errors import CrioError, ExitCode
from crio.status.output import default_heap_name, write_new_file


def _entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.mark.parametrize("name", ["heap", "hp"])
@pytest.mark.parametrize("form", ["--file", "-f", "--file=", "-fFILE"])
def test_heap_file_spellings_write_the_dump_whole(api: tuple[CrioApiServer, Path], tmp_path: Path, name: str,
                                                  form: str) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "crio.heap"
    args = {"--file": ["--file", str(target)], "-f": ["-f", str(target)], "--file=": [f"--file={target}"],
            "-fFILE": [f"-f{target}"]}[form]
    out = run_status("-s", str(api[1]), name, *args)
    assert out.code == 0, out.stderr
    assert out.stdout == b""
    assert out.stderr == f"Wrote heap dump to: {target}\n"
    assert target.read_bytes() == HEAP
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a heap dump holds the daemon's memory
    assert _entries(out_dir) == {"crio.heap"}  # no temp file left behind
    assert api[0].paths == ["/debug/heap"]


def test_heap_without_file_uses_upstreams_default_name_here(api: tuple[CrioApiServer, Path], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run([sys.executable, "-m", "crio.status.cli", "-s", str(api[1]), "heap"], cwd=work,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    (written,) = _entries(work)
    assert re.fullmatch(r"crio-heap-\d{4}-\d\d-\d\dT\d{6}(Z|[+-]\d{4})\.out", written), written
    assert (work / written).read_bytes() == HEAP
    assert out.stdout == "" and out.stderr == f"Wrote heap dump to: {written}\n"


def test_heap_to_standard_output_is_the_raw_bytes(api: tuple[CrioApiServer, Path], tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "crio.status.cli", "-s", str(api[1]), "hp", "-f", "-"],
                         cwd=tmp_path, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == HEAP and out.stderr == b""
    assert "-" not in _entries(tmp_path)


def test_existing_file_is_refused_before_asking_crio(api: tuple[CrioApiServer, Path], tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_bytes(b"someone's file\n")
    out = run_status("-s", str(api[1]), "heap", "--file", str(target))
    assert out.code == ExitCode.OUTPUT_FILE and out.stdout == b""
    assert out.stderr.strip() == (f"crio-status: error: cannot write {target}: it already exists "
                                  "(use --force to replace it)")
    assert target.read_bytes() == b"someone's file\n"
    assert api[0].paths == []


def test_force_replaces_an_existing_file(api: tuple[CrioApiServer, Path], tmp_path: Path) -> None:
    target = tmp_path / "old.heap"
    target.write_bytes(b"yesterday's dump")
    out = run_status("-s", str(api[1]), "heap", "-f", str(target), "--force")
    assert out.code == 0, out.stderr
    assert target.read_bytes() == HEAP


def test_planted_symlink_is_refused_and_with_force_replaced_not_followed(api: tuple[CrioApiServer, Path],
                                                                         tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch\n")
    link = tmp_path / "dump.out"
    link.symlink_to(victim)
    refused = run_status("-s", str(api[1]), "heap", "-f", str(link))
    assert refused.code == ExitCode.OUTPUT_FILE and "already exists" in refused.stderr
    dangling = tmp_path / "dangling.out"
    dangling.symlink_to(tmp_path / "nowhere")
    assert run_status("-s", str(api[1]), "heap", "-f", str(dangling)).code == ExitCode.OUTPUT_FILE
    assert not (tmp_path / "nowhere").exists()
    forced = run_status("-s", str(api[1]), "heap", "-f", str(link), "--force")
    assert forced.code == 0, forced.stderr
    assert not link.is_symlink() and link.read_bytes() == HEAP
    assert victim.read_bytes() == b"do not touch\n"


@pytest.mark.parametrize("case", ["missing-dir", "is-dir", "is-dir-force"])
def test_unwritable_targets_are_one_line_errors(api: tuple[CrioApiServer, Path], tmp_path: Path, case: str) -> None:
    target = tmp_path / "no" / "such" / "dir" / "x.heap" if case == "missing-dir" else tmp_path / "adir"
    if case != "missing-dir":
        target.mkdir()
    out = run_status("-s", str(api[1]), "heap", "-f", str(target), *(["--force"] if case == "is-dir-force" else []))
    assert out.code == ExitCode.OUTPUT_FILE, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert ("No such file or directory" if case == "missing-dir" else "it is a directory") in out.stderr
    assert _entries(tmp_path) == ({"crio.sock"} if case == "missing-dir" else {"crio.sock", "adir"})


@pytest.mark.parametrize(("mode", "text"), [("short-chunk", "malformed HTTP answer"),
                                            ("short-length", "ended after 89610 bytes, 89611 short")])
def test_dump_cut_short_leaves_nothing(api: tuple[CrioApiServer, Path], tmp_path: Path, mode: str,
                                       text: str) -> None:
    api[0].mode = mode
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = run_status("-s", str(api[1]), "heap", "-f", str(out_dir / "x.heap"))
    assert out.code == ExitCode.BAD_RESPONSE, out.stderr
    assert text in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert _entries(out_dir) == set()


@pytest.mark.parametrize(("mode", "code"), [("old", ExitCode.NOT_FOUND), ("error", ExitCode.BAD_RESPONSE),
                                            ("missing-socket", ExitCode.SOCKET_MISSING)])
def test_daemon_failures_keep_their_codes_and_leave_nothing(api: tuple[CrioApiServer, Path], tmp_path: Path,
                                                            mode: str, code: ExitCode) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    sock = tmp_path / "absent.sock" if mode == "missing-socket" else api[1]
    api[0].mode = mode
    out = run_status("-s", str(sock), "heap", "-f", str(out_dir / "x.heap"))
    assert out.code == code, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _entries(out_dir) == set()


def test_default_name_is_rfc3339_without_colons() -> None:
    assert default_heap_name(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)) == "crio-heap-2025-03-04T050607Z.out"
    east = timezone(timedelta(hours=5, minutes=30))
    assert default_heap_name(datetime(2025, 3, 4, 5, 6, 7, tzinfo=east)) == "crio-heap-2025-03-04T050607+0530.out"
    west = timezone(-timedelta(hours=7))
    assert default_heap_name(datetime(2025, 12, 31, 23, 0, 0, tzinfo=west)) == "crio-heap-2025-12-31T230000-0700.out"
    with pytest.raises(ValueError):
        default_heap_name(datetime(2025, 1, 1))  # a naive time must be refused


def test_source_failure_midway_passes_through_and_leaves_nothing(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"first half"
        raise CrioError("socket went away", ExitCode.CONNECTION)

    with pytest.raises(CrioError) as caught:
        write_new_file(tmp_path / "x.heap", chunks())
    assert caught.value.exit_code == ExitCode.CONNECTION
    assert _entries(tmp_path) == set()


def test_unwritable_directory_is_an_output_error(tmp_path: Path) -> None:
    """As root the mode is ignored, so the writer runs as nobody to hit EACCES for real."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code = (
        "import os, sys\n"
        "from crio.errors import CrioError\n"
        "from crio.status.output import write_new_file\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        "    write_new_file(__import__('pathlib').Path(sys.argv[1]), [b'x'])\n"
        "except CrioError as exc:\n"
        "    print(int(exc.exit_code), exc.message)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code, str(ro / "x.heap")], capture_output=True, text=True,
                             timeout=30)
    finally:
        ro.chmod(0o700)
    assert out.stdout.startswith(f"{int(ExitCode.OUTPUT_FILE)} cannot write "), (out.stdout, out.stderr)
    assert "Permission denied" in out.stdout
    assert _entries(ro) == set()
