"""Fixtures shared by the nix build tests: a spec and tiny static ELF members per architecture."""

from __future__ import annotations

import pytest
from helpers.nix import write_elves, write_nix_spec


@pytest.fixture
def inputs(tmp_path):
    """(spec path, directory of per-arch ELF members, what was written) for a local nix-build."""
    spec = write_nix_spec(tmp_path / "spec.toml", tag="v1.34.2")
    elves = tmp_path / "elves"
    written = write_elves(elves)
    return spec, elves, written
