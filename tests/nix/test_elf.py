"""check_static_elf: ELF machine and static linkage from the headers, 32/64-bit, both byte orders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from crio_release.build.elf import check_static_elf, read_elf_info
from helpers.nix import make_elf

from crio.arch import ELF_MACHINES
from crio.errors import CrioError, ExitCode

LAYOUTS = [(64, True), (64, False), (32, True), (32, False)]


def _write(tmp_path: Path, data: bytes, name: str = "bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("bits", "little"), LAYOUTS)
@pytest.mark.parametrize("arch", sorted(ELF_MACHINES))
def test_a_static_elf_of_the_right_machine_passes(tmp_path, arch, bits, little) -> None:
    path = _write(tmp_path, make_elf(arch, bits=bits, little=little, payload=b"code"))
    info = read_elf_info(path)
    assert (info.bits, info.little_endian, info.machine, info.static) == (bits, little, ELF_MACHINES[arch], True)
    check_static_elf(path, arch)


@pytest.mark.parametrize(("bits", "little"), LAYOUTS)
def test_an_interpreter_is_refused_as_dynamic(tmp_path, bits, little) -> None:
    path = _write(tmp_path, make_elf("arm64", bits=bits, little=little, interp="/lib/ld-linux-aarch64.so.1"))
    assert read_elf_info(path).interpreter == "/lib/ld-linux-aarch64.so.1"
    with pytest.raises(CrioError) as err:
        check_static_elf(path, "arm64", label="nix attribute arm64: bin/crio")
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message == (
        "nix attribute arm64: bin/crio: dynamically linked (PT_INTERP /lib/ld-linux-aarch64.so.1); "
        "it must be static (nix pkgsStatic build)"
    )


@pytest.mark.parametrize(("bits", "little"), LAYOUTS)
def test_needed_libraries_without_interpreter_are_refused(tmp_path, bits, little) -> None:
    path = _write(tmp_path, make_elf("amd64", bits=bits, little=little, needed=2))
    assert read_elf_info(path).needed == 2
    with pytest.raises(CrioError, match=r"dynamically linked \(2 DT_NEEDED shared libraries\)") as err:
        check_static_elf(path, "amd64")
    assert err.value.exit_code == ExitCode.BUILD


@pytest.mark.parametrize(("bits", "little"), LAYOUTS)
def test_a_static_pie_dynamic_section_without_needed_passes(tmp_path, bits, little) -> None:
    path = _write(tmp_path, make_elf("amd64", bits=bits, little=little, dynamic=True, e_type=3))
    info = read_elf_info(path)
    assert info.interpreter is None and info.needed == 0
    check_static_elf(path, "x86_64")  # uname -m spelling accepted


def test_a_wrong_machine_is_refused_naming_both(tmp_path) -> None:
    path = _write(tmp_path, make_elf("amd64"))
    with pytest.raises(CrioError) as err:
        check_static_elf(path, "arm64", label="nix attribute arm64: bin/pinns")
    assert err.value.exit_code == ExitCode.ELF_MACHINE
    assert err.value.message == "nix attribute arm64: bin/pinns: ELF machine 62 (amd64), expected 183 (arm64)"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"#!/bin/sh\necho not a binary\n", "no ELF magic"),
        (b"", "no ELF magic"),
        (make_elf("amd64")[:40], "truncated ELF header"),
        (make_elf("amd64", interp="/lib/ld.so")[:100], "truncated program headers"),
        (make_elf("amd64", e_type=1), "neither an executable"),
        (b"\x7fELF\x03\x01" + bytes(58), "unknown class 3"),
    ],
    ids=["script", "empty", "short-header", "short-phdrs", "relocatable", "bad-class"],
)
def test_a_non_executable_is_refused_in_one_line(tmp_path, data, reason) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(CrioError) as err:
        check_static_elf(path, "amd64", label="nix attribute amd64: bin/crio")
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message.startswith("nix attribute amd64: bin/crio: not an ELF executable (")
    assert reason in err.value.message
    assert "\n" not in err.value.message


def _readelf_static(path: Path) -> bool:
    out = subprocess.run(["readelf", "-lW", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return "INTERP" not in out and "(NEEDED)" not in out


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf not installed")
@pytest.mark.parametrize("program", ["/bin/ls", "/sbin/ldconfig", "/bin/sh"])
def test_real_binaries_agree_with_readelf(program) -> None:
    """Host binaries: /bin/ls is dynamic; Debian's /sbin/ldconfig is static-pie (PT_DYNAMIC, no NEEDED)."""
    path = Path(program).resolve()
    if not path.is_file():
        pytest.skip(f"{program} not present")
    info = read_elf_info(path)
    assert info.static == _readelf_static(path)
    if program == "/bin/ls":
        assert not info.static
        assert info.interpreter and "ld" in info.interpreter
        assert info.needed >= 1
