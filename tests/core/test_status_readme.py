"""The README's `crio status` -> `crio-status` table is true: every command in it runs, and a row says the same."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from helpers.crio_api import HEAP, CrioApiServer, Run, run_status

README = Path(__file__).resolve().parents[2] / "README.md"
ID = "3f5e0c2d9a1b"


def _rows() -> list[tuple[str, list[str], list[str], str]]:
    text = README.read_text()
    section = text.split("### From `crio status`", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `") and not line.startswith("| (none)"):
            continue
        upstream, ours, output = (cell.strip() for cell in line.strip("|").split(" | "))
        rows.append((line, re.findall(r"`(crio status [^`]*)`", upstream),
                     re.findall(r"`((?:CRIO_SOCKET=PATH )?crio-status [^`]*)`", ours), output))
    return rows


ROWS = _rows()


def test_the_table_covers_every_command_and_alias() -> None:
    assert len(ROWS) == 8
    upstream = " ".join(cmd for _, ups, _, _ in ROWS for cmd in ups)
    for word in ("info", "i", "config", "c", "containers", "container", "cs", "s", "goroutines", "g", "heap", "hp",
                 "-s", "--socket", "--id", "-i", "--file", "-f"):
        assert f" {word} " in f" {upstream} ", word


def _run(command: str, sock: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, Path | None]:
    """Run one table command, upstream's with `crio status` replaced by `crio-status`, in a fresh directory."""
    words = shlex.split(command)
    if words[0] == "CRIO_SOCKET=PATH":
        monkeypatch.setenv("CRIO_SOCKET", str(sock))
        words = words[1:]
    words = words[2:] if words[:2] == ["crio", "status"] else words[1:]
    work.mkdir()
    monkeypatch.chdir(work)
    target = work / "dump.heap"
    args = [{"PATH": str(sock), "ID": ID, "FILE": str(target)}.get(w, w) for w in words]
    if "PATH" not in words and "CRIO_SOCKET" not in command:
        args = ["-s", str(sock), *args]
    result = run_status(*args)
    monkeypatch.delenv("CRIO_SOCKET", raising=False)
    return result, (target if "FILE" in words else None)


@pytest.mark.parametrize("row", ROWS, ids=[f"row{n}" for n in range(len(ROWS))])
def test_every_command_of_a_row_runs_and_same_means_same(api: tuple[CrioApiServer, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         row: tuple[str, list[str], list[str], str]) -> None:
    line, upstream, ours, output = row
    commands = upstream + ours
    assert commands, line
    outputs = []
    for n, command in enumerate(commands):
        result, target = _run(command, api[1], tmp_path / f"run{n}", monkeypatch)
        assert result.code == 0, (command, result.stderr)
        outputs.append(result.stdout)
        if target is not None:
            assert target.read_bytes() == HEAP, command
        elif " heap" in command or " hp" in command:
            if "-f -" in command:
                assert result.stdout == HEAP, command
            else:
                (written,) = (tmp_path / f"run{n}").iterdir()
                assert written.name.startswith("crio-heap-") and written.read_bytes() == HEAP, command
    if output.startswith("same"):
        assert all(out == outputs[0] for out in outputs), line
        for label in re.findall(r"`([a-zA-Z -]+:)`", output):
            assert label.encode() in outputs[0], label
