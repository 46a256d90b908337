"""The one ELF reader of the builder: the machine of any staged file, and static linkage of nix outputs.

Why headers only: a bundle must never put an x86-64 binary on an arm64 node,
and crio/pinns must be static; both facts sit in the first bytes (ELF header,
program headers, dynamic section), so a multi-megabyte binary is never read
whole. 32/64-bit and both byte orders are handled alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from crio.arch import ELF_MACHINES, normalize_arch
from crio.errors import CrioError, ExitCode

ELF_MAGIC = b"\x7fELF"
PT_DYNAMIC = 2
PT_INTERP = 3
DT_NULL = 0
DT_NEEDED = 1
PN_XNUM = 0xFFFF
ET_EXEC = 2
ET_DYN = 3
_MAX_DYNAMIC = 1 << 20

#: e_machine values named in messages (the ones crio.arch ships, and a few that turn up by mistake).
MACHINE_NAMES: dict[int, str] = {62: "x86-64", 183: "aarch64", 21: "ppc64", 22: "s390", 3: "i386", 40: "arm",
                                 243: "riscv"}


class NotElf(Exception):
    """Not a well-formed ELF file; the message says which part is wrong."""


@dataclass(frozen=True)
class ElfHeader:
    """The fields of the ELF header the checks use."""

    bits: int
    end: str  # struct byte order: "<" or ">"
    e_type: int
    machine: int
    phoff: int
    shoff: int
    phentsize: int
    phnum: int


@dataclass(frozen=True)
class ElfInfo:
    """What the bundle cares about in an ELF executable."""

    bits: int
    little_endian: bool
    machine: int
    interpreter: str | None
    needed: int  # number of DT_NEEDED entries

    @property
    def static(self) -> bool:
        return self.interpreter is None and self.needed == 0


def _read(fh: BinaryIO, offset: int, size: int, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise NotElf(f"truncated {what}")
    return data


def read_header(fh: BinaryIO) -> ElfHeader | None:
    """The ELF header of an open file; None without the ELF magic, NotElf when it is malformed."""
    ident = fh.read(16)
    if ident[:4] != ELF_MAGIC:
        return None
    if len(ident) < 16:
        raise NotElf("truncated ELF header")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise NotElf(f"unknown class {ident[4]} or byte order {ident[5]}")
    bits = 32 if ident[4] == 1 else 64
    end = "<" if ident[5] == 1 else ">"
    fmt = end + ("HHIQQQIHHHHHH" if bits == 64 else "HHIIIIIHHHHHH")
    fields = struct.unpack(fmt, _read(fh, 16, struct.calcsize(fmt), "ELF header"))
    e_type, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum = fields[:10]
    return ElfHeader(bits, end, e_type, machine, phoff, shoff, phentsize, phnum)


def elf_machine(path: Path, *, label: str | None = None) -> int | None:
    """The e_machine of `path`, or None when it is not ELF; a malformed ELF header is a BUILD error."""
    try:
        with open(path, "rb") as fh:
            header = read_header(fh)
    except NotElf as exc:
        raise CrioError(f"{label or path}: starts like an ELF file but {exc}", ExitCode.BUILD) from None
    return None if header is None else header.machine


def read_elf_info(path: Path, *, label: str | None = None) -> ElfInfo:
    """Parse the ELF, program and dynamic headers of `path`.

    Raises CrioError(BUILD), naming `label` (default: the path), for a file
    that is not a well-formed ELF executable.
    """
    name = label or str(path)
    try:
        with open(path, "rb") as fh:
            header = read_header(fh)
            if header is None:
                raise NotElf("no ELF magic")
            return _executable_info(fh, header, Path(path).stat().st_size)
    except NotElf as exc:
        raise CrioError(f"{name}: not an ELF executable ({exc})", ExitCode.BUILD) from None
    except OSError as exc:
        raise CrioError(f"{name}: cannot read ({exc.strerror or exc})", ExitCode.BUILD) from None


def _executable_info(fh: BinaryIO, header: ElfHeader, file_size: int) -> ElfInfo:
    """Interpreter and DT_NEEDED count from the program headers of an executable."""
    if header.e_type not in (ET_EXEC, ET_DYN):
        raise NotElf(f"e_type {header.e_type} is neither an executable nor a position-independent executable")
    end, bits = header.end, header.bits
    phdr_fmt, dyn_fmt = ("IIQQQQQQ", "qQ") if bits == 64 else ("IIIIIIII", "iI")
    phdr_size = struct.calcsize(end + phdr_fmt)
    phnum = header.phnum
    if phnum == PN_XNUM:
        # The real count lives in section header 0's sh_info.
        info_offset = 44 if bits == 64 else 28
        (phnum,) = struct.unpack(end + "I", _read(fh, header.shoff + info_offset, 4, "section header 0"))
    if phnum and header.phentsize < phdr_size:
        raise NotElf(f"program header size {header.phentsize} < {phdr_size}")
    if header.phoff + phnum * header.phentsize > file_size:
        raise NotElf("truncated program headers")
    interpreter: str | None = None
    dynamic: list[tuple[int, int]] = []
    for index in range(phnum):
        fields = struct.unpack(end + phdr_fmt, _read(fh, header.phoff + index * header.phentsize, phdr_size,
                                                     "program header"))
        p_type = fields[0]
        p_offset, p_filesz = (fields[2], fields[5]) if bits == 64 else (fields[1], fields[4])
        if p_type == PT_INTERP:
            data = _read(fh, p_offset, min(p_filesz, 4096), "PT_INTERP")
            interpreter = data.split(b"\0", 1)[0].decode("utf-8", "replace") or "?"
        elif p_type == PT_DYNAMIC:
            dynamic.append((p_offset, min(p_filesz, _MAX_DYNAMIC)))
    needed = sum(_count_needed(fh, end + dyn_fmt, offset, size) for offset, size in dynamic)
    return ElfInfo(bits=bits, little_endian=end == "<", machine=header.machine, interpreter=interpreter,
                   needed=needed)


def _count_needed(fh: BinaryIO, dyn_fmt: str, offset: int, size: int) -> int:
    data = _read(fh, offset, size, "PT_DYNAMIC")
    entry_size = struct.calcsize(dyn_fmt)
    needed = 0
    for tag, _value in struct.iter_unpack(dyn_fmt, data[: size - size % entry_size]):
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            needed += 1
    return needed


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
