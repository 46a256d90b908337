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
from helpers.nix import LOCAL_NIX, make_elf, needs_nix

from crio.errors import CrioError, ExitCode

pytestmark = needs_nix

MEMBERS = ("bin/crio", "bin/pinns")


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
    from crio_release.build.bundle import build_bundles

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


@pytest.mark.parametrize(
    ("attr", "member", "data", "code", "needle"),
    [
        ("amd64", "bin/pinns", make_elf("amd64", interp="/lib64/ld-linux-x86-64.so.2"), ExitCode.BUILD,
         "nix attribute amd64: bin/pinns: dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2)"),
        ("arm64", "bin/crio", make_elf("amd64"), ExitCode.ELF_MACHINE,
         "nix attribute arm64: bin/crio: ELF machine 62 (amd64), expected 183 (arm64)"),
    ],
    ids=["dynamic", "wrong-arch"],
)
def test_the_bundle_refuses_a_wrong_nix_output(inputs, tmp_path, attr, member, data, code, needle) -> None:
    from crio_release.build.bundle import build_bundles

    from crio.revision import parse_revision

    spec, elves, _ = inputs
    (elves / attr / member).write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(CrioError) as err:
        build_bundles(spec, ["amd64", "arm64"], parse_revision("v1.34.2"), out, source_date_epoch=0,
                      nix_dir=_nix_dir_for(tmp_path, elves))
    assert err.value.exit_code == code
    assert needle in err.value.message
    assert "\n" not in err.value.message
    assert not list(out.glob("cri-o.*"))  # nothing half-done
