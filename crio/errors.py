"""One exit-code table for every command of the toolkit.

Each failure class has its own code so that automation can tell a bad
argument from a broken download from a failed verification without parsing
text. Each code has one label (LABELS); every help text that lists codes is
generated from this table (crio-get, crio-release) or checked against it by
tests/get/test_get_contract.py (scripts/get -h and the in-bundle `install
--help`, which carry bash copies of the codes they use).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    # shared by crio-get and scripts/get
    UNSUPPORTED_ARCH = 3
    RESOLUTION = 4
    DOWNLOAD = 5
    VERIFICATION = 6
    INSTALL = 7
    MISSING_TOOL = 8
    NOT_ROOT = 9
    # crio-status
    SOCKET_MISSING = 10
    PERMISSION_DENIED = 11
    TIMEOUT = 12
    NOT_FOUND = 13
    BAD_RESPONSE = 14
    CONNECTION = 15
    OUTPUT_FILE = 16
    # crio-get and scripts/get
    DOWNGRADE = 17
    # crio-get and scripts/get: one transaction per root at a time
    LOCKED = 18
    # crio-get and scripts/get --verify: installed files differ from the install record
    INSTALLED_DIFFERS = 19
    # crio-release bundle
    SPEC = 20
    CHECKSUM = 21
    ELF_MACHINE = 22
    MISSING_COMPONENT = 23
    PATH_CONFLICT = 24
    BUILD = 25
    # crio-release publish / verify / markers
    BUCKET_URL = 30
    CREDENTIALS = 31
    INCOMPLETE_SET = 32
    STORAGE_UNREACHABLE = 33
    IMMUTABLE_CONFLICT = 34
    MARKER = 35
    VERIFY_FAILED = 36
    # crio-release git commands
    REFUSED = 40
    GIT = 41
    GITHUB = 42


#: One line per code, for help texts and the README: what the class of failure means to a user.
LABELS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.INTERNAL: "internal error",
    ExitCode.USAGE: "usage (bad option, argument, revision, bucket, key or path variable)",
    ExitCode.UNSUPPORTED_ARCH: "unsupported architecture",
    ExitCode.RESOLUTION: "resolution (marker missing, empty, not a revision, HTML; revision not published)",
    ExitCode.DOWNLOAD: "download failed",
    ExitCode.VERIFICATION: "verification failed (checksum, signature, manifest.json, unsafe tarball entry)",
    ExitCode.INSTALL: "install failed (previous installation restored)",
    ExitCode.MISSING_TOOL: "a required tool is missing",
    ExitCode.NOT_ROOT: "not root (set DESTDIR to install elsewhere)",
    ExitCode.SOCKET_MISSING: "crio-status: socket missing",
    ExitCode.PERMISSION_DENIED: "crio-status: permission denied",
    ExitCode.TIMEOUT: "crio-status: timeout",
    ExitCode.NOT_FOUND: "crio-status: not found (404)",
    ExitCode.BAD_RESPONSE: "crio-status: bad response (not JSON, HTTP error)",
    ExitCode.CONNECTION: "crio-status: connection refused",
    ExitCode.DOWNGRADE: "downgrade refused (an older revision than the installed one; -t REV or --allow-downgrade)",
    ExitCode.LOCKED: "another install or uninstall holds the lock on this root",
    ExitCode.INSTALLED_DIFFERS: "installed files differ from the install record (--verify)",
    ExitCode.SPEC: "bundle spec invalid",
    ExitCode.CHECKSUM: "checksum mismatch of a component",
    ExitCode.ELF_MACHINE: "ELF machine not the bundle's architecture",
    ExitCode.MISSING_COMPONENT: "component missing for an architecture",
    ExitCode.PATH_CONFLICT: "two components write the same path",
    ExitCode.BUILD: "build failed (nix, zipapp)",
    ExitCode.BUCKET_URL: "bucket URL not understood",
    ExitCode.CREDENTIALS: "missing cloud credentials",
    ExitCode.INCOMPLETE_SET: "incomplete artifact set",
    ExitCode.STORAGE_UNREACHABLE: "storage unreachable",
    ExitCode.IMMUTABLE_CONFLICT: "immutable artifact exists with another hash",
    ExitCode.MARKER: "marker would move backwards / cannot be ordered / unreadable",
    ExitCode.VERIFY_FAILED: "verify found problems",
    ExitCode.REFUSED: "release command refused (dirty tree, exists ...)",
    ExitCode.GIT: "git operation failed",
}

#: The codes scripts/get and crio-get exit with (0-9, then the installer codes numbered after crio-status's).
INSTALLER_CODES: tuple[ExitCode, ...] = (*(c for c in ExitCode if c <= ExitCode.NOT_ROOT), ExitCode.DOWNGRADE,
                                        ExitCode.LOCKED, ExitCode.INSTALLED_DIFFERS)
#: The codes the in-bundle `install` script exits with (it downloads and resolves nothing).
INSTALL_SCRIPT_CODES: tuple[ExitCode, ...] = (
    ExitCode.OK, ExitCode.USAGE, ExitCode.VERIFICATION, ExitCode.INSTALL, ExitCode.MISSING_TOOL, ExitCode.NOT_ROOT,
)


def exit_code_help(codes: tuple[ExitCode, ...] | list[ExitCode]) -> str:
    """The `Exit codes:` block of a help text: one `  CODE label` line per code, in table order."""
    return "\n".join(f"  {int(code)} {LABELS[code]}" for code in codes)


def bash_variable(code: ExitCode) -> str:
    """`EXIT_NOT_ROOT`: the name the bash installers give a code (checked by the contract test)."""
    return f"EXIT_{code.name}"


class CrioError(Exception):
    """An expected failure: one line for the user and the exit code of its class."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(CrioError):
    exit_code = ExitCode.USAGE


class UnsupportedArchitecture(CrioError):
    exit_code = ExitCode.UNSUPPORTED_ARCH


class InvalidRevision(CrioError):
    exit_code = ExitCode.USAGE
