"""Every .nix file of the repository parses, and the same check catches a syntax error."""

from __future__ import annotations

import subprocess

import pytest
from helpers.nix import NIX_DIR, REPO, needs_nix, nix_parse

pytestmark = needs_nix


def _repo_nix_files() -> list[str]:
    """Tracked and not-yet-committed .nix files (never .venv or ignored ones)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(set(out))


def test_the_expected_nix_files_are_found() -> None:
    files = _repo_nix_files()
    for name in ("nix/default.nix", "nix/pins.nix", "nix/crio.nix", "tests/nix/fixtures/local/default.nix"):
        assert name in files


@pytest.mark.parametrize("relpath", _repo_nix_files())
def test_every_nix_file_parses(relpath: str) -> None:
    proc = nix_parse(REPO / relpath)
    assert proc.returncode == 0, f"{relpath}: {proc.stderr.strip()}"


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda s: s.rstrip().removesuffix("}"), id="missing-closing-brace"),
        pytest.param(lambda s: s.replace("let", "let let", 1), id="stray-keyword"),
        pytest.param(lambda s: s.replace(";", "", 1), id="missing-semicolon"),
    ],
)
def test_a_syntax_error_fails_the_check(tmp_path, breakage) -> None:
    source = (NIX_DIR / "pins.nix").read_text()
    broken = tmp_path / "pins.nix"
    broken.write_text(breakage(source))
    assert broken.read_text() != source
    proc = nix_parse(broken)
    assert proc.returncode != 0
    assert "syntax error" in proc.stderr or "error:" in proc.stderr
