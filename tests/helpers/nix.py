"""Test helpers for nix sources: tiny ELF files and a spec with nix pins.

`make_elf` writes headers only (no code): enough for the bundle builder's ELF
machine check and crio_release.build.elf.check_static_elf, in any class, byte order and
linkage. `write_nix_spec` writes a spec that both crio_release.build.spec and
nix/pins.nix accept, with crio and pinns from `nix` sources.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from crio.arch import ELF_MACHINES

REPO = Path(__file__).resolve().parents[2]
NIX_DIR = REPO / "nix"
#: Stand-in for nix/default.nix without nixpkgs (tests/nix/fixtures/local/default.nix).
LOCAL_NIX = REPO / "tests" / "nix" / "fixtures" / "local"
#: Never wait on a binary cache: nothing here may leave the machine.
NO_CACHE = ["--option", "substituters", ""]

needs_nix = pytest.mark.skipif(
    shutil.which("nix-instantiate") is None or shutil.which("nix-build") is None,
    reason="nix-instantiate/nix-build not installed (Debian package nix-bin; `make deps` installs it)",
)


def nix_parse(path: Path) -> subprocess.CompletedProcess[str]:
    """`nix-instantiate --parse FILE`: the syntax check the test command runs on every .nix file."""
    return subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True, check=False)


def nix_eval_json(*args: str) -> subprocess.CompletedProcess[str]:
    """`nix-instantiate --eval --strict --json ARGS`: pure evaluation, nothing fetched or built."""
    return subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", *NO_CACHE, *args],
        capture_output=True,
        text=True,
        check=False,
    )

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED = 0, 1


def make_elf(
    arch: str | int,
    *,
    bits: int = 64,
    little: bool = True,
    interp: str | None = None,
    needed: int = 0,
    dynamic: bool = False,
    e_type: int = 2,
    payload: bytes = b"",
) -> bytes:
    """An ELF executable header set: PT_LOAD, optional PT_INTERP and PT_DYNAMIC (with `needed` DT_NEEDED)."""
    machine = ELF_MACHINES[arch] if isinstance(arch, str) else arch
    end = "<" if little else ">"
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    has_dynamic = dynamic or needed > 0
    phnum = 1 + (interp is not None) + has_dynamic
    cursor = ehsize + phentsize * phnum
    blobs: list[bytes] = []
    phdrs: list[tuple[int, int, int]] = []  # (type, offset, size)
    if interp is not None:
        data = interp.encode() + b"\0"
        phdrs.append((PT_INTERP, cursor, len(data)))
        blobs.append(data)
        cursor += len(data)
    if has_dynamic:
        dyn_fmt = end + ("qQ" if bits == 64 else "iI")
        entries = [(DT_NEEDED, 1)] * needed + [(DT_NULL, 0)]
        data = b"".join(struct.pack(dyn_fmt, tag, value) for tag, value in entries)
        phdrs.append((PT_DYNAMIC, cursor, len(data)))
        blobs.append(data)
        cursor += len(data)
    body = b"".join(blobs) + payload
    total = ehsize + phentsize * phnum + len(body)
    phdrs.insert(0, (PT_LOAD, 0, total))
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if little else 2, 1, 0]) + bytes(8)
    if bits == 64:
        header = struct.pack(end + "HHIQQQIHHHHHH", e_type, machine, 1, 0x400000, ehsize, 0, 0, ehsize, phentsize, phnum, 64, 0, 0)
    else:
        header = struct.pack(end + "HHIIIIIHHHHHH", e_type, machine, 1, 0x8048000, ehsize, 0, 0, ehsize, phentsize, phnum, 40, 0, 0)
    table = b""
    for p_type, offset, size in phdrs:
        if bits == 64:
            table += struct.pack(end + "IIQQQQQQ", p_type, 5, offset, offset, offset, size, size, 8)
        else:
            table += struct.pack(end + "IIIIIIII", p_type, offset, offset, offset, size, size, 5, 4)
    return ident + header + table + body


def write_elves(root: Path, archs: tuple[str, ...] = ("amd64", "arm64"), members: tuple[str, ...] = ("bin/crio", "bin/pinns")) -> dict[str, dict[str, bytes]]:
    """`root/<arch>/<member>`: a distinct static ELF of that arch per member; returns the bytes written."""
    written: dict[str, dict[str, bytes]] = {}
    for arch in archs:
        for member in members:
            data = make_elf(arch, payload=f"{arch}:{member}\n".encode())
            target = root / arch / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.setdefault(arch, {})[member] = data
    return written


NIXPKGS_REV = "a" * 40
CRIO_REV = "0123456789abcdef0123456789abcdef01234567"
NIX_HASH = "1" * 52  # nix base32 alphabet; never fetched here


def write_nix_spec(
    path: Path,
    *,
    tag: str = "v1.34.2",
    crio_version: str | None = None,
    pinns_version: str | None = None,
    rev: str = CRIO_REV,
    nixpkgs_sha256: str = NIX_HASH,
    source_attrs: dict[str, str] | None = None,
    url: str | None = None,
    crio_sha256: str = NIX_HASH,
    nixpkgs_url: str | None = None,
    extra: str = "",
) -> Path:
    """A spec with [nix] pins and crio/pinns built by nix.

    `source_attrs` maps each architecture to the nix attribute its sources
    name (default: amd64 -> amd64, arm64 -> arm64); `extra` appends TOML.
    """
    version = tag.removeprefix("v")
    attrs = source_attrs if source_attrs is not None else {"amd64": "amd64", "arm64": "arm64"}
    components = ""
    for name, comp_version in (("crio", crio_version), ("pinns", pinns_version)):
        components += f"""
[[component]]
name = "{name}"
version = "{comp_version or version}"
license = "Apache-2.0"
dest = "bin/{name}"
mode = "0755"
"""
        for arch, attr in attrs.items():
            components += f"""[component.source.{arch}]
nix = "{attr}"
member = "bin/{name}"
"""
    text = f"""schema = 1

[nix.nixpkgs]
url = "{nixpkgs_url or f'https://github.com/NixOS/nixpkgs/archive/{NIXPKGS_REV}.tar.gz'}"
sha256 = "{nixpkgs_sha256}"

[nix.crio-source]
owner = "cri-o"
repo = "cri-o"
tag = "{tag}"
rev = "{rev}"
url = "{url or f'https://github.com/cri-o/cri-o/archive/{rev}.tar.gz'}"
sha256 = "{crio_sha256}"
{components}{extra}"""
    path.write_text(text)
    return path
