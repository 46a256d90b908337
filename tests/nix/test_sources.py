"""nix/sources.nix fetches the pinned inputs and checks them against the spec's nix hashes.

Real `builtins.fetchTarball` of local file:// tarballs (no network): the
same step default.nix runs before importing nixpkgs and building CRI-O.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers.nix import CRIO_REV, NIX_DIR, needs_nix, nix_eval_json, write_nix_spec

pytestmark = needs_nix


def _tree(root: Path, top: str, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / top


def _tarball(tree: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    return target


def _nar_hashes(tree: Path) -> dict[str, str]:
    """The three spellings nix accepts for the NAR sha256 of an unpacked tree."""
    def nix_hash(*flags: str) -> str:
        return subprocess.run(["nix-hash", "--type", "sha256", *flags, str(tree)],
                              capture_output=True, text=True, check=True).stdout.strip()

    hex_digest = nix_hash()  # base16 is the default
    return {
        "base32": nix_hash("--base32"),
        "hex": hex_digest,
        "sri": "sha256-" + base64.b64encode(bytes.fromhex(hex_digest)).decode(),
    }


@pytest.fixture
def archives(tmp_path):
    crio = _tree(tmp_path / "src", f"cri-o-{CRIO_REV}", {"Makefile": "bin/crio:\n", "pinns/pinns.c": "int main(){}\n"})
    nixpkgs = _tree(tmp_path / "src", "nixpkgs-x", {"default.nix": "{ ... }: { }\n"})
    return {
        "crio": (crio, _tarball(crio, tmp_path / "archive" / f"{CRIO_REV}.tar.gz")),
        "nixpkgs": (nixpkgs, _tarball(nixpkgs, tmp_path / "archive" / "nixpkgs.tar.gz")),
    }


def _fetch(spec: Path, which: str) -> subprocess.CompletedProcess[str]:
    expr = (f"(import {NIX_DIR}/sources.nix {{ pins = import {NIX_DIR}/pins.nix "
            f"{{ spec = {json.dumps(str(spec))}; }}; }}).{which}")
    return nix_eval_json("--expr", expr)


@pytest.mark.parametrize("spelling", ["base32", "hex", "sri"])
def test_pinned_sources_are_fetched_and_verified(tmp_path, archives, spelling) -> None:
    crio_tree, crio_tar = archives["crio"]
    nixpkgs_tree, nixpkgs_tar = archives["nixpkgs"]
    spec = write_nix_spec(
        tmp_path / "spec.toml",
        url=crio_tar.as_uri(),
        crio_sha256=_nar_hashes(crio_tree)[spelling],
        nixpkgs_url=nixpkgs_tar.as_uri(),
        nixpkgs_sha256=_nar_hashes(nixpkgs_tree)[spelling],
    )
    for which, tree in (("crio", crio_tree), ("nixpkgs", nixpkgs_tree)):
        proc = _fetch(spec, which)
        assert proc.returncode == 0, proc.stderr
        store_path = Path(json.loads(proc.stdout))
        assert store_path.is_relative_to("/nix/store")
        got = sorted(p.relative_to(store_path).as_posix() for p in store_path.rglob("*") if p.is_file())
        want = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
        assert got == want  # unpacked, top directory stripped


def test_a_source_that_does_not_match_its_pin_is_refused(tmp_path, archives) -> None:
    crio_tree, crio_tar = archives["crio"]
    # A never-seen tree: nix trusts a fixed-output path already in the store
    # and would not fetch at all, so the pinned content must be new to it.
    (crio_tree / "nonce").write_text(os.urandom(16).hex())
    good = _nar_hashes(crio_tree)["base32"]
    (crio_tree / "Makefile").write_text("bin/crio: tampered\n")
    _tarball(crio_tree, crio_tar)  # same URL, other bytes
    spec = write_nix_spec(tmp_path / "spec.toml", url=crio_tar.as_uri(), crio_sha256=good)
    proc = _fetch(spec, "crio")
    assert proc.returncode != 0
    assert "hash mismatch" in proc.stderr
    assert good in proc.stderr
