"""A bundle built from a real `nix-build` result through the bundle builder's `nix` source kind.

The nix expression is the local stand-in (tests/nix/fixtures/local/default.nix):
real nix-build, no nixpkgs, prebuilt tiny static ELF files.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from helpers.nix import LOCAL_NIX, needs_nix, write_elves, write_nix_spec

pytestmark = needs_nix

MEMBERS = ("bin/crio", "bin/pinns")


@pytest.fixture
def inputs(tmp_path):
    spec = write_nix_spec(tmp_path / "spec.toml", tag="v1.34.2")
    elves = tmp_path / "elves"
    written = write_elves(elves)
    return spec, elves, written


def _nix_dir_for(tmp_path: Path, elves: Path) -> Path:
    """A nix dir whose default.nix is the local stand-in with its prebuilt input bound.

    `spec` has no default on purpose: the builder must hand nix the very spec
    the bundle is built from (one set of pins). `elves` is bound here since
    the builder passes no other argument.
    """
    nix_dir = tmp_path / "nixdir"
    nix_dir.mkdir()
    (nix_dir / "default.nix").write_text(
        f"{{ spec }}: import {json.dumps(str(LOCAL_NIX / 'default.nix'))[1:-1]} "
        f"{{ inherit spec; elves = {json.dumps(str(elves))}; }}\n"
    )
    return nix_dir


def test_a_bundle_from_a_real_nix_build(inputs, tmp_path) -> None:
    from crio_release.bundle import build_bundles

    from crio.revision import parse_revision

    spec, elves, written = inputs
    nix_dir = _nix_dir_for(tmp_path, elves)
    result = build_bundles(spec, ["amd64", "arm64"], parse_revision("v1.34.2"), tmp_path / "out",
                           source_date_epoch=0, nix_dir=nix_dir)
    for arch in ("amd64", "arm64"):
        tarball = result.bundles[arch].tarball.path
        with tarfile.open(tarball) as tar:
            manifest = json.load(tar.extractfile("cri-o/manifest.json"))
            for member in MEMBERS:
                data = tar.extractfile(f"cri-o/{member}").read()
                assert data == written[arch][member]
                entry = next(f for f in manifest["files"] if f["path"] in (member, f"cri-o/{member}"))
                assert entry["sha256"] == hashlib.sha256(written[arch][member]).hexdigest()
