"""Architecture names: the four CRI-O ships, and the `uname -m` spellings that map to them."""

from __future__ import annotations

import platform

from crio.errors import UnsupportedArchitecture

#: Architectures CRI-O publishes bundles for, in the order they are listed.
ARCHITECTURES: tuple[str, ...] = ("amd64", "arm64", "ppc64le", "s390x")

#: Architectures CI builds static bundles for on every commit.
DEFAULT_BUILD_ARCHITECTURES: tuple[str, ...] = ("amd64", "arm64")

#: Every accepted spelling (Go/Debian names and `uname -m` names) -> the bundle name.
ALIASES: dict[str, str] = {
    "amd64": "amd64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "aarch64_be": "arm64",
    "armv8": "arm64",
    "armv8l": "arm64",
    "ppc64le": "ppc64le",
    "ppc64el": "ppc64le",
    "s390x": "s390x",
}

#: ELF e_machine value of each architecture, for the bundle builder's check.
ELF_MACHINES: dict[str, int] = {"amd64": 62, "arm64": 183, "ppc64le": 21, "s390x": 22}


def normalize_arch(name: str) -> str:
    """Map any accepted spelling to the bundle architecture, or raise with the list of what is accepted."""
    key = name.strip().lower() if name == name.strip() else None
    if key and key in ALIASES:
        return ALIASES[key]
    raise UnsupportedArchitecture(
        f"unsupported architecture {name!r}: use one of {', '.join(ARCHITECTURES)} "
        f"(or a uname -m spelling: x86_64, aarch64, ppc64le, s390x)"
    )


def host_arch() -> str:
    """The bundle architecture of this machine."""
    return normalize_arch(platform.machine())
