"""Build-time checks on the staged files of one architecture, each a one-line error naming the component.

Why here and not at install time: a bundle that would put an x86-64 binary
on an arm64 node, or silently let one component overwrite another's file,
must never be published in the first place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from crio.arch import ELF_MACHINES
from crio.errors import CrioError, ExitCode
from crio_release.build.elf import MACHINE_NAMES, elf_machine
from crio_release.build.sources import StagedFile


def check_elf_machines(files: list[StagedFile], arch: str) -> None:
    """Every ELF file must be built for `arch` (crio_release.build.elf reads the header)."""
    expected = ELF_MACHINES[arch]
    for staged in files:
        machine = elf_machine(staged.path, label=f"component {staged.component}: {staged.dest}")
        if machine is not None and machine != expected:
            found = MACHINE_NAMES.get(machine, "another machine")
            raise CrioError(
                f"component {staged.component}: {staged.dest} is an ELF binary for {found} (e_machine {machine}), "
                f"but this is the {arch} bundle, which needs {MACHINE_NAMES[expected]} (e_machine {expected})",
                ExitCode.ELF_MACHINE,
            )


def check_conflicts(files: list[StagedFile]) -> None:
    """No two components may write the same path, nor a file where another needs a directory."""
    owner: dict[str, str] = {}
    for staged in files:
        previous = owner.get(staged.dest)
        if previous is not None:
            raise CrioError(
                f"components {previous} and {staged.component} both write cri-o/{staged.dest}",
                ExitCode.PATH_CONFLICT,
            )
        owner[staged.dest] = staged.component
    for staged in files:
        parts = staged.dest.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in owner:
                raise CrioError(
                    f"components {owner[parent]} and {staged.component} conflict: cri-o/{parent} is a file "
                    f"of {owner[parent]} but {staged.component} writes cri-o/{staged.dest} below it",
                    ExitCode.PATH_CONFLICT,
                )


#: Where a staged path may be a symlink: nix's store is immutable and content-addressed (as in sources._walk).
NIX_STORE = Path("/nix/store")


def check_regular_files(files: list[StagedFile]) -> None:
    """Every staged file is a regular file, not a link: the bundle carries regular files and directories only.

    The tarball writer only ever writes regular-file entries, so a link here would silently become a copy
    of whatever it points to on the build host; it is refused instead (nix store links excepted).
    """
    for staged in files:
        st = os.lstat(staged.path)
        if stat.S_ISLNK(st.st_mode) and not staged.path.resolve().is_relative_to(NIX_STORE):
            raise CrioError(f"component {staged.component}: {staged.path} (cri-o/{staged.dest}) is a symlink; "
                            "bundles carry regular files only", ExitCode.BUILD)
        if not stat.S_ISLNK(st.st_mode) and not stat.S_ISREG(st.st_mode):
            raise CrioError(f"component {staged.component}: {staged.path} (cri-o/{staged.dest}) is not a regular "
                            "file; bundles carry regular files only", ExitCode.BUILD)
