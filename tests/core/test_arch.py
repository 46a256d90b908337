"""Architecture names: every accepted spelling maps to the bundle name; anything else lists what is supported."""

from __future__ import annotations

import pytest

from crio.arch import ALIASES, ARCHITECTURES, ELF_MACHINES, normalize_arch
from crio.errors import ExitCode, UnsupportedArchitecture


@pytest.mark.parametrize(("given", "expected"), [
    ("amd64", "amd64"), ("x86_64", "amd64"), ("X86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"),
    ("ppc64le", "ppc64le"), ("s390x", "s390x"),
])
def test_uname_spellings_are_normalised(given: str, expected: str) -> None:
    assert normalize_arch(given) == expected


@pytest.mark.parametrize("given", ["", "i386", "armv7l", "riscv64", "x86", " amd64", "amd64\n", "mips", "../amd64"])
def test_unsupported_architectures_list_what_is_supported(given: str) -> None:
    with pytest.raises(UnsupportedArchitecture) as info:
        normalize_arch(given)
    assert info.value.exit_code == ExitCode.UNSUPPORTED_ARCH
    for arch in ARCHITECTURES:
        assert arch in info.value.message


def test_every_alias_maps_to_a_shipped_architecture_with_an_elf_machine() -> None:
    assert set(ALIASES.values()) == set(ARCHITECTURES) == set(ELF_MACHINES)
