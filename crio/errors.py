"""One exit-code table for every command of the toolkit.

Each failure class has its own code so that automation can tell a bad
argument from a broken download from a failed verification without parsing
text. `scripts/get` carries a copy of the installer codes; a test holds the
two together.
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
