"""crio's man pages and completions from the nix build: what nix/crio.nix installs, and how the builder takes them.

nix/crio.nix is not built here (no nixpkgs): its install lines are read and
held to crio_release.build.pins (what the production spec takes from each
output). The builder's side is real: a `--nix-result` directory laid out as
crio.nix lays out its output, bundled with a spec that takes the docs beside
this repository's own man pages and completions.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from crio_release.build.bundle import build_bundles
from crio_release.build.pins import NIX_DOCS, NIX_MEMBERS
from helpers.nix import write_elves, write_nix_spec

from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision

REPO = Path(__file__).resolve().parents[2]
CRIO_NIX = REPO / "nix" / "crio.nix"
DOCS = {
    "share/man/man8/crio.8": b".TH CRIO 8\n", "share/man/man5/crio.conf.5": b".TH CRIO.CONF 5\n",
    "share/man/man5/crio.conf.d.5": b".TH CRIO.CONF.D 5\n", "completions/bash/crio": b"complete -F _crio crio\n",
    "completions/fish/crio.fish": b"complete -c crio\n", "completions/zsh/_crio": b"#compdef crio\n",
}


def test_crio_nix_installs_exactly_what_the_spec_takes() -> None:
    installed = re.findall(r"install -Dm(\d+) \S+ \$out/(\S+)", CRIO_NIX.read_text())
    executables = {path for mode, path in installed if mode == "755"}
    docs = {path for mode, path in installed if mode == "644"}
    assert executables == set(NIX_MEMBERS.values())
    man = set(NIX_DOCS["crio-man-pages"])
    assert man <= docs  # each man page is a member by its own path
    completion_dirs = {path.rsplit("/", 1)[0] for path in docs - man}
    assert completion_dirs == set(NIX_DOCS["crio-completions"])  # completions are taken per shell directory
    assert docs == set(DOCS)
    # rendered from the source's markdown by go-md2man, a build input
    text = CRIO_NIX.read_text()
    assert re.search(r'for page in crio\.8 crio\.conf\.5 crio\.conf\.d\.5; do\s+'
                     r'go-md2man -in "docs/\$page\.md" -out "docs/\$page"', text)
    assert re.search(r"nativeBuildInputs = \[[^]]*\bgo-md2man\b", text)


DOC_COMPONENTS = "".join(f"""
[[component]]
name = "{name}"
version = "1.34.2"
license = "Apache-2.0"
dest = "{dest}"
mode = "0644"
[component.source.amd64]
nix = "amd64"
members = {list(members)!r}
[component.source.arm64]
nix = "arm64"
members = {list(members)!r}
""".replace("'", '"') for name, dest, members in (
    ("crio-man-pages", "man", NIX_DOCS["crio-man-pages"]),
    ("crio-completions", "completions", NIX_DOCS["crio-completions"])))


def _own_files(root: Path, man_page: str = "crio-status.8") -> str:
    """This repository's own man/ and completions/ (path sources beside the spec, as in the real specs)."""
    (root / "man").mkdir(parents=True)
    (root / "man" / man_page).write_text(".TH OWN 8\n")
    (root / "completions" / "bash").mkdir(parents=True)
    (root / "completions" / "bash" / "crio-status").write_text("complete crio-status\n")
    return "".join(f"""
[[component]]
name = "{name}"
version = "1.0.0"
license = "Apache-2.0"
dest = "{name}"
mode = "0644"
[component.source.all]
path = "{root.name}/{name}"
""" for name in ("man", "completions"))


def _nix_result(root: Path) -> Path:
    write_elves(root / "elves")
    for arch in ("amd64", "arm64"):
        out = root / "result" / f"result-{arch}"
        for member in NIX_MEMBERS.values():
            (out / member).parent.mkdir(parents=True, exist_ok=True)
            (out / member).write_bytes((root / "elves" / arch / member).read_bytes())
        for path, data in DOCS.items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_bytes(data)
    return root / "result"


def test_docs_from_the_nix_output_land_beside_the_repositorys_own(tmp_path: Path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", extra=DOC_COMPONENTS + _own_files(tmp_path / "own"))
    result = build_bundles(spec, ["amd64", "arm64"], parse_revision("v1.34.2"), tmp_path / "out",
                           source_date_epoch=0, nix_result=_nix_result(tmp_path))
    for arch in ("amd64", "arm64"):
        with tarfile.open(result.bundles[arch].tarball.path) as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            for path, data in {"man/crio.8": DOCS["share/man/man8/crio.8"],
                               "man/crio.conf.d.5": DOCS["share/man/man5/crio.conf.d.5"],
                               "completions/zsh/_crio": DOCS["completions/zsh/_crio"],
                               "completions/fish/crio.fish": DOCS["completions/fish/crio.fish"]}.items():
                assert members[f"cri-o/{path}"].mode == 0o644  # text, not checked as an ELF executable
                assert tar.extractfile(f"cri-o/{path}").read() == data
            assert "cri-o/man/crio-status.8" in members and "cri-o/completions/bash/crio-status" in members
            assert members["cri-o/bin/crio"].mode == 0o755


def test_a_file_both_would_write_is_a_conflict(tmp_path: Path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", extra=DOC_COMPONENTS + _own_files(tmp_path / "own", "crio.8"))
    with pytest.raises(CrioError) as err:
        build_bundles(spec, ["amd64"], parse_revision("v1.34.2"), tmp_path / "out", source_date_epoch=0,
                      nix_result=_nix_result(tmp_path))
    assert err.value.exit_code == ExitCode.PATH_CONFLICT and "cri-o/man/crio.8" in err.value.message


def test_an_executable_from_the_nix_output_is_still_checked_as_an_elf(tmp_path: Path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", extra=DOC_COMPONENTS)
    result = _nix_result(tmp_path)
    (result / "result-amd64" / "bin" / "pinns").write_text("#!/bin/sh\n")
    with pytest.raises(CrioError) as err:
        build_bundles(spec, ["amd64"], parse_revision("v1.34.2"), tmp_path / "out", source_date_epoch=0,
                      nix_result=result)
    assert err.value.exit_code == ExitCode.BUILD and "bin/pinns" in err.value.message
