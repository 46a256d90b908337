"""The maintenance policy: the data file parses, and each day's table matches what CRI-O's README said."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from crio.policy import Status, branch_statuses, load_releases, parse_releases, render_markdown


def _table(day: str, include_eol: bool = False) -> list[tuple[str, str]]:
    rows = branch_statuses(date.fromisoformat(day), load_releases(), include_eol=include_eol)
    return [(r.branch, r.status.value) for r in rows]


def test_shipped_data_file_parses_in_order() -> None:
    releases = load_releases()
    assert releases[0].minor < releases[-1].minor
    assert all(r.released < r.end_of_life for r in releases)
    assert {"1.18", "1.21", "1.35"} <= {r.series for r in releases}


def test_table_of_2021_06_01_matches_cri_o_readme_of_that_time() -> None:
    assert _table("2021-06-01") == [
        ("main", "✓"), ("release-1.21", "="), ("release-1.20", "="), ("release-1.19", "="), ("release-1.18", "="),
    ]


def test_table_of_2026_11_25_lists_only_minors_kubernetes_supported_that_day() -> None:
    releases = load_releases()
    day = date(2026, 11, 25)
    supported = {f"release-{r.series}" for r in releases if r.released <= day < r.end_of_life}
    table = _table("2026-11-25")
    assert table[0] == ("main", "✓")
    assert {branch for branch, _ in table[1:]} == supported == {"release-1.35", "release-1.36", "release-1.37"}
    assert all(symbol == "=" for _, symbol in table[1:])


def test_end_of_life_day_itself_is_no_longer_maintained() -> None:
    assert ("release-1.18", "=") in _table("2021-06-17")
    assert ("release-1.18", "=") not in _table("2021-06-18")
    assert ("release-1.18", "✗") in _table("2021-06-18", include_eol=True)


def test_a_minor_appears_on_its_release_day() -> None:
    assert "release-1.22" not in dict(_table("2021-08-03"))
    assert dict(_table("2021-08-04"))["release-1.22"] == "="


def test_markdown_uses_the_readme_columns() -> None:
    text = render_markdown(branch_statuses(date(2021, 6, 1), load_releases()))
    lines = text.splitlines()
    assert lines[0] == "| Version - Branch | Kubernetes branch/version | Maintenance status |"
    assert "| CRI-O HEAD - main | Kubernetes master branch | ✓ |" in lines
    assert "| CRI-O 1.21.x - release-1.21 | Kubernetes 1.21 branch, v1.21.x | = |" in lines
    assert Status.MAINTAINED.description in text


@pytest.mark.parametrize(("text", "problem"), [
    ('[[release]]\nminor = "1.2"\nreleased = 2020-01-01\nend_of_life = 2019-01-01\n', "not after release"),
    ('[[release]]\nminor = "1.3"\nreleased = 2020-01-01\nend_of_life = 2021-01-01\n'
     '[[release]]\nminor = "1.2"\nreleased = 2019-01-01\nend_of_life = 2020-01-01\n', "ascending"),
    ('[[release]]\nminor = "1.2"\nreleased = "2020-01-01"\nend_of_life = 2021-01-01\n', "must be dates"),
    ("", "no [[release]]"),
])
def test_malformed_data_is_rejected(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_releases(text)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crio_release.cli", *args], capture_output=True, text=True)


def test_support_command_prints_the_table_and_json() -> None:
    out = _cli("support", "--date", "2021-06-01")
    assert out.returncode == 0, out.stderr
    assert "| CRI-O 1.18.x - release-1.18 | Kubernetes 1.18 branch, v1.18.x | = |" in out.stdout
    assert "release-1.17" not in out.stdout
    data = json.loads(_cli("support", "--date", "2026-11-25", "--format", "json").stdout)
    assert data["date"] == "2026-11-25"
    assert [b["branch"] for b in data["branches"]] == ["main", "release-1.37", "release-1.36", "release-1.35"]


def test_support_command_rejects_a_bad_date_with_usage_exit_code(tmp_path: Path) -> None:
    out = _cli("support", "--date", "2021-13-01")
    assert out.returncode == 2 and ("YYYY-MM-DD" in out.stderr or "%Y-%m-%d" in out.stderr)
    bad = tmp_path / "k8s.toml"
    bad.write_text('[[release]]\nminor = "1.2"\nreleased = 2020-01-01\nend_of_life = 2019-01-01\n')
    out = _cli("support", "--data", str(bad))
    assert out.returncode == 2 and "not after release" in out.stderr
    out = _cli("support", "--date", "1999-01-01")
    assert out.returncode == 2 and "no Kubernetes minor" in out.stderr
