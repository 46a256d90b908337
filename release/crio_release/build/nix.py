"""The `nix` source kind: build (or reuse) a nix output and check what it holds.

Why: crio and pinns must be static binaries of the bundle's architecture. They
come straight from `nix-build nix -A <arch>` (see nix/README.md), whose pins are
read from the same spec file the bundle builder reads; this module runs that
build, finds the output, and refuses an output that is not what the bundle
needs (wrong ELF machine, dynamically linked, member missing) with one line
naming the nix attribute.

Every failure is a `CrioError`: BUILD for a failed build, a missing output or
member, or a dynamically linked binary; ELF_MACHINE for a binary of another
architecture (the builder's code for that class); MISSING_TOOL when nix-build
is absent; SPEC when the spec's nix pins disagree.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from crio.arch import DEFAULT_BUILD_ARCHITECTURES, ELF_MACHINES, normalize_arch
from crio.errors import CrioError, ExitCode

#: The attributes nix/default.nix defines: one per architecture CI builds.
NIX_ATTRIBUTES: tuple[str, ...] = DEFAULT_BUILD_ARCHITECTURES
#: Files each attribute's output holds, by component.
NIX_MEMBERS: dict[str, str] = {"crio": "bin/crio", "pinns": "bin/pinns"}

_ATTR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_'-]*$")
_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_'-]*$")


def default_nix_dir() -> Path:
    """The repository's `nix/` directory (the package lives in release/crio_release/)."""
    return Path(__file__).resolve().parents[3] / "nix"


# Building --------------------------------------------------------------------


def nix_output(
    attr: str,
    *,
    nix_dir: Path,
    nix_result: Path | None = None,
    spec: Path | None = None,
    args: Mapping[str, str] | None = None,
) -> Path:
    """The output directory of nix attribute `attr`, built now or taken from `nix_result`.

    `nix_result` (the CLI's `--nix-result DIR`) is an existing build: either a
    directory holding one link per attribute, `result-<attr>` (what
    `nix-build nix -A amd64 -o DIR/result-amd64` makes) or `<attr>`, or else the
    output directory itself (then `check_static_elf` refuses the other
    architectures' members). Without it, runs
    `nix-build NIX_DIR -A ATTR --no-out-link --option substituters ''`, with
    `--argstr spec SPEC` so nix reads the very spec the bundle is built from,
    plus `--argstr NAME VALUE` for each entry of `args`.
    """
    if not _ATTR_RE.match(attr):
        raise CrioError(f"invalid nix attribute {attr!r}: expected a name such as amd64", ExitCode.USAGE)
    if nix_result is not None:
        return _existing_result(attr, Path(nix_result))
    return _build(attr, Path(nix_dir), spec, args or {})


def _existing_result(attr: str, root: Path) -> Path:
    if not root.is_dir():
        raise CrioError(f"nix attribute {attr}: nix result {root} is not a directory", ExitCode.BUILD)
    for candidate in (root / f"result-{attr}", root / attr):
        if candidate.exists():
            if not candidate.is_dir():
                raise CrioError(f"nix attribute {attr}: {candidate} is not a build output directory", ExitCode.BUILD)
            return candidate.resolve()
    return root.resolve()


def _build(attr: str, nix_dir: Path, spec: Path | None, args: Mapping[str, str]) -> Path:
    nix_build = shutil.which("nix-build")
    if nix_build is None:
        raise CrioError(
            f"nix attribute {attr}: nix-build not found on PATH; install nix (Debian: nix-bin) "
            "or pass --nix-result DIR with an existing build",
            ExitCode.MISSING_TOOL,
        )
    if not nix_dir.exists():
        raise CrioError(f"nix attribute {attr}: nix expression {nix_dir} does not exist", ExitCode.BUILD)
    command = [nix_build, str(nix_dir), "-A", attr, "--no-out-link", "--option", "substituters", ""]
    if spec is not None:
        command += ["--argstr", "spec", str(Path(spec).resolve())]
    for name, value in args.items():
        if not _ARG_RE.match(name):
            raise CrioError(f"invalid nix argument name {name!r}", ExitCode.USAGE)
        command += ["--argstr", name, str(value)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CrioError(
            f"nix attribute {attr}: nix-build {nix_dir} failed (exit {proc.returncode}): {_nix_error(proc.stderr)}",
            ExitCode.BUILD,
        )
    paths = [line for line in proc.stdout.splitlines() if line.startswith("/")]
    if len(paths) != 1 or not Path(paths[0]).is_dir():
        raise CrioError(
            f"nix attribute {attr}: expected one output directory from nix-build, got {proc.stdout.strip()!r}",
            ExitCode.BUILD,
        )
    return Path(paths[0])


def _nix_error(stderr: str) -> str:
    """The one line of nix's stderr that says what went wrong, with the build log's last line if any."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    at = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if at is None:
        return (lines[-1] if lines else "no output")[:400]
    message = lines[at].removeprefix("error:").strip()
    after = lines[at + 1 :]
    if not message:  # some nix versions put the message on the following lines
        message = next((r for r in after if not r.startswith(("at ", "…", "("))), "")
    if message.startswith("builder for"):
        # The log is either quoted after the error ("> ...") or printed before it.
        quoted = [r.removeprefix(">").strip() for r in after if r.startswith(">")]
        log = quoted or [r for r in lines[:at] if not r.startswith(("building '", "these ", "this derivation", "/nix/store/"))]
        if log and log[-1]:
            message += f"; last log line: {log[-1]}"
    return message[:600]


def nix_member(
    attr: str,
    member: str,
    arch: str,
    *,
    nix_dir: Path,
    nix_result: Path | None = None,
    spec: Path | None = None,
    args: Mapping[str, str] | None = None,
) -> Path:
    """One checked file of a nix output: exists, is a static ELF of `arch`. What a `nix` source yields."""
    out = nix_output(attr, nix_dir=nix_dir, nix_result=nix_result, spec=spec, args=args)
    path = out / member
    if not path.is_file():
        raise CrioError(
            f"nix attribute {attr}: output {out} has no member {member} (expected a file such as bin/crio)",
            ExitCode.BUILD,
        )
    check_static_elf(path, arch, label=f"nix attribute {attr}: {member}")
    return path


# ELF checks --------------------------------------------------------------------

PT_DYNAMIC = 2
PT_INTERP = 3
DT_NULL = 0
DT_NEEDED = 1
PN_XNUM = 0xFFFF
ET_EXEC = 2
ET_DYN = 3
_MAX_DYNAMIC = 1 << 20


@dataclass(frozen=True)
class ElfInfo:
    """What the bundle cares about in an ELF header."""

    bits: int
    little_endian: bool
    machine: int
    interpreter: str | None
    needed: int  # number of DT_NEEDED entries

    @property
    def static(self) -> bool:
        return self.interpreter is None and self.needed == 0


class _NotElf(Exception):
    pass


def read_elf_info(path: Path, *, label: str | None = None) -> ElfInfo:
    """Parse the ELF, program and dynamic headers of `path` (32/64-bit, either byte order).

    Reads only headers, never the whole binary. Raises CrioError(BUILD), naming
    `label` (default: the path), for a file that is not a well-formed ELF executable.
    """
    name = label or str(path)
    try:
        with open(path, "rb") as fh:
            return _parse_elf(fh, Path(path).stat().st_size)
    except _NotElf as exc:
        raise CrioError(f"{name}: not an ELF executable ({exc})", ExitCode.BUILD) from None
    except OSError as exc:
        raise CrioError(f"{name}: cannot read ({exc.strerror or exc})", ExitCode.BUILD) from None


def _read(fh: BinaryIO, offset: int, size: int, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise _NotElf(f"truncated {what}")
    return data


def _parse_elf(fh: BinaryIO, file_size: int) -> ElfInfo:
    ident = fh.read(16)
    if len(ident) < 16 or ident[:4] != b"\x7fELF":
        raise _NotElf("no ELF magic")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise _NotElf(f"unknown class {ident[4]} or byte order {ident[5]}")
    bits = 32 if ident[4] == 1 else 64
    end = "<" if ident[5] == 1 else ">"
    if bits == 64:
        header_fmt, phdr_fmt, dyn_fmt = "HHIQQQIHHHHHH", "IIQQQQQQ", "qQ"
    else:
        header_fmt, phdr_fmt, dyn_fmt = "HHIIIIIHHHHHH", "IIIIIIII", "iI"
    header = struct.unpack(end + header_fmt, _read(fh, 16, struct.calcsize(end + header_fmt), "ELF header"))
    e_type, e_machine, _version, _entry, e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum = header[:10]
    if e_type not in (ET_EXEC, ET_DYN):
        raise _NotElf(f"e_type {e_type} is neither an executable nor a position-independent executable")
    phdr_size = struct.calcsize(end + phdr_fmt)
    if e_phnum == PN_XNUM:
        # The real count lives in section header 0's sh_info.
        info_offset = 44 if bits == 64 else 28
        (e_phnum,) = struct.unpack(end + "I", _read(fh, e_shoff + info_offset, 4, "section header 0"))
    if e_phnum and e_phentsize < phdr_size:
        raise _NotElf(f"program header size {e_phentsize} < {phdr_size}")
    if e_phoff + e_phnum * e_phentsize > file_size:
        raise _NotElf("truncated program headers")
    interpreter: str | None = None
    dynamic: list[tuple[int, int]] = []
    for index in range(e_phnum):
        raw = _read(fh, e_phoff + index * e_phentsize, phdr_size, "program header")
        fields = struct.unpack(end + phdr_fmt, raw)
        p_type = fields[0]
        p_offset, p_filesz = (fields[2], fields[5]) if bits == 64 else (fields[1], fields[4])
        if p_type == PT_INTERP:
            data = _read(fh, p_offset, min(p_filesz, 4096), "PT_INTERP")
            interpreter = data.split(b"\0", 1)[0].decode("utf-8", "replace") or "?"
        elif p_type == PT_DYNAMIC:
            dynamic.append((p_offset, min(p_filesz, _MAX_DYNAMIC)))
    needed = 0
    entry_size = struct.calcsize(end + dyn_fmt)
    for offset, size in dynamic:
        data = _read(fh, offset, size, "PT_DYNAMIC")
        for tag, _value in struct.iter_unpack(end + dyn_fmt, data[: size - size % entry_size]):
            if tag == DT_NULL:
                break
            if tag == DT_NEEDED:
                needed += 1
    return ElfInfo(bits=bits, little_endian=end == "<", machine=e_machine, interpreter=interpreter, needed=needed)


def check_static_elf(path: Path, arch: str, *, label: str | None = None) -> None:
    """Refuse `path` unless it is a statically linked ELF executable for bundle architecture `arch`.

    Static means no PT_INTERP program header and no DT_NEEDED entry (a
    static-pie has a PT_DYNAMIC without either, and passes). `label` names the
    file in errors, e.g. "nix attribute amd64: bin/crio".
    """
    arch = normalize_arch(arch)
    name = label or str(path)
    info = read_elf_info(Path(path), label=name)
    expected = ELF_MACHINES[arch]
    if info.machine != expected:
        found = next((a for a, m in ELF_MACHINES.items() if m == info.machine), "unknown architecture")
        raise CrioError(
            f"{name}: ELF machine {info.machine} ({found}), expected {expected} ({arch})",
            ExitCode.ELF_MACHINE,
        )
    if info.interpreter is not None:
        raise CrioError(
            f"{name}: dynamically linked (PT_INTERP {info.interpreter}); it must be static (nix pkgsStatic build)",
            ExitCode.BUILD,
        )
    if info.needed:
        raise CrioError(
            f"{name}: dynamically linked ({info.needed} DT_NEEDED shared libraries); it must be static",
            ExitCode.BUILD,
        )


# Pins ------------------------------------------------------------------------


@dataclass(frozen=True)
class NixPins:
    """The spec's nix pins as nix/pins.nix reads them (compared in tests)."""

    nixpkgs: dict[str, str]
    crio_source: dict[str, str]
    version: str
    components: dict[str, dict[str, Any]]


#: fetchTarball hashes: nix base32, hex, or SRI (the alphabet nix/pins.nix accepts).
_NIX_HASH_RE = re.compile(r"[0-9a-df-np-sv-z]{52}|[0-9a-f]{64}|sha256-[A-Za-z0-9+/]{43}=")
_PIN_KEYS = {"nixpkgs": ("url", "sha256"), "crio-source": ("owner", "repo", "tag", "rev", "url", "sha256")}


def read_nix_pins(spec: Path) -> NixPins:
    """Read and cross-check the spec's `[nix]` pins; the same rules nix/pins.nix asserts.

    The crio and pinns components must take `bin/crio`/`bin/pinns` from the
    attribute of their own architecture, and their version must be the
    crio-source tag without `v`: one pin, never two that can drift.
    """
    where = f"spec {spec}"
    try:
        data = tomllib.loads(Path(spec).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CrioError(f"{where}: cannot read nix pins ({exc})", ExitCode.SPEC) from None
    nix = data.get("nix")
    if not isinstance(nix, dict):
        raise CrioError(f"{where}: no [nix] table; nix/pins.nix needs [nix.nixpkgs] and [nix.crio-source]", ExitCode.SPEC)
    tables: dict[str, dict[str, str]] = {}
    for table, keys in _PIN_KEYS.items():
        raw = nix.get(table)
        if not isinstance(raw, dict):
            raise CrioError(f"{where}: missing [nix.{table}] with {', '.join(keys)}", ExitCode.SPEC)
        for key in keys:
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise CrioError(f"{where}: nix.{table}.{key} must be a non-empty string", ExitCode.SPEC)
        tables[table] = {key: raw[key] for key in keys}
    for table, values in tables.items():
        if not _NIX_HASH_RE.fullmatch(values["sha256"]):
            raise CrioError(
                f"{where}: nix.{table}.sha256 {values['sha256']!r} is not a nix sha256 "
                "(52-char base32, 64 hex or sha256-<base64>)",
                ExitCode.SPEC,
            )
    source = tables["crio-source"]
    # A commit, or the tag itself when its commit is not known (the sha256 pins the content).
    if not (re.fullmatch(r"[0-9a-f]{40}", source["rev"]) or source["rev"] == source["tag"]):
        raise CrioError(
            f"{where}: nix.crio-source.rev {source['rev']!r} is neither a 40-hex commit nor the tag", ExitCode.SPEC
        )
    if not source["url"].endswith(f"/{source['rev']}.tar.gz"):
        raise CrioError(
            f"{where}: nix.crio-source.url {source['url']!r} must end with /{source['rev']}.tar.gz (the archive of rev)",
            ExitCode.SPEC,
        )
    if not source["tag"].startswith("v"):
        raise CrioError(f"{where}: nix.crio-source.tag {source['tag']!r} must start with v", ExitCode.SPEC)
    tag_version = source["tag"][1:]
    entries = data.get("component") if isinstance(data.get("component"), list) else []
    components: dict[str, dict[str, Any]] = {}
    for name, member in NIX_MEMBERS.items():
        hits = [c for c in entries if isinstance(c, dict) and c.get("name") == name]
        if len(hits) != 1:
            raise CrioError(f"{where}: expected exactly one [[component]] named {name}, found {len(hits)}", ExitCode.SPEC)
        comp = hits[0]
        if comp.get("version") != tag_version:
            raise CrioError(
                f"{where}: component {name} version {comp.get('version')!r} differs from nix.crio-source.tag "
                f"{source['tag']!r}; they must be one pin",
                ExitCode.SPEC,
            )
        sources: dict[str, dict[str, str]] = {}
        for attr in NIX_ATTRIBUTES:
            src = (comp.get("source") or {}).get(attr) or {}
            if src.get("nix") != attr or src.get("member") != member:
                raise CrioError(
                    f"{where}: component {name} source.{attr} must be nix = {attr!r}, member = {member!r}",
                    ExitCode.SPEC,
                )
            sources[attr] = {"nix": attr, "member": member}
        components[name] = {"version": comp["version"], "sources": sources}
    return NixPins(nixpkgs=tables["nixpkgs"], crio_source=source, version=tag_version, components=components)
