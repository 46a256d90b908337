"""One run of the bundle's install script: it plans, sends the plan, waits for `go`, then installs that plan.

For a script that declares `plan-fd` (crio.artifacts.CAPABILITY_PLAN_FD) instead of `install --list`
and then a second run that plans again: one bash start fewer, and the paths journaled are the paths
of the plan the run executes (a config edited between two runs could change "replace" into "write
beside", a path no journal covered). The script gets two pipes: it writes its plan (the lines --list
prints, then crio.artifacts.INSTALL_PLAN_END) to one and closes it, then reads one line from the
other. The caller journals the plan and writes `go`; if it refuses, fails or dies first, the script
reads end of file and exits 7 having written nothing (its --help).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, INSTALL_PLAN_END
from crio.errors import CrioError, ExitCode

#: A plan is one line per path (a few dozen in a bundle); more than this is no plan of ours.
PLAN_MAX_BYTES = 4 << 20
#: How long a script told "no" (end of file on its go pipe) may take to exit before it is killed.
ABORT_WAIT_SECONDS = 30.0
_END = (INSTALL_PLAN_END + "\n").encode()


class PlannedRun:
    """The running install script between its plan and the go-ahead (a context manager).

    Leaving the block without `go()` (an exception, a refused plan) closes the go pipe, so the script
    exits without writing, and waits for it (killing it if it does not exit).
    """

    def __init__(self, bundle: Path, args: list[str], lock_fd: int) -> None:
        plan_read, plan_write = os.pipe()
        go_read, go_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["bash", f"./{BUNDLE_INSTALL_SCRIPT}", *args, "--plan-fd", str(plan_write), "--go-fd", str(go_read)],
                cwd=bundle, pass_fds=(lock_fd, plan_write, go_read))
        except BaseException:
            os.close(plan_read)
            os.close(go_write)
            raise
        finally:
            os.close(plan_write)     # the script's ends: only it holds them now, so its exit is seen
            os.close(go_read)
        self._plan: int | None = plan_read
        self._go: int | None = go_write

    def __enter__(self) -> PlannedRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._go is not None:
            self.abort()

    def plan(self) -> list[str]:
        """The plan's lines (blank ones dropped), read up to INSTALL_PLAN_END; the script's failure (exit 6 or 7,
        nothing changed) when it exits or closes the pipe first, or sends more than PLAN_MAX_BYTES."""
        assert self._plan is not None
        data = bytearray()
        while not (data == _END or data.endswith(b"\n" + _END)):
            chunk = os.read(self._plan, 65536)
            if not chunk:
                self._failed("exited before sending its whole plan")
            data += chunk
            if len(data) > PLAN_MAX_BYTES:
                self._failed(f"sent a plan of more than {PLAN_MAX_BYTES} bytes")
        os.close(self._plan)
        self._plan = None
        text = os.fsdecode(bytes(data[:-len(_END)]))
        return [line for line in text.splitlines() if line.strip()]

    def go(self) -> int:
        """Tell the script to install the plan it sent; its exit code once it is done."""
        assert self._go is not None
        go, self._go = self._go, None
        try:
            os.write(go, b"go\n")
        except BrokenPipeError:
            pass                  # it died meanwhile: its exit code says so
        finally:
            os.close(go)
        try:
            return self.proc.wait()
        except BaseException:
            self.proc.kill()      # as subprocess.run does: the caller rolls back what it wrote
            self.proc.wait()
            raise

    def abort(self) -> int:
        """No go-ahead: close both pipes (the script reads end of file and exits), wait for it; its exit code."""
        for fd in (self._go, self._plan):
            if fd is not None:
                os.close(fd)
        self._go = self._plan = None
        try:
            return self.proc.wait(timeout=ABORT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def _failed(self, what: str) -> NoReturn:
        code = self.abort()
        if code == ExitCode.VERIFICATION:
            raise CrioError("the bundle failed its own verification; nothing was changed", ExitCode.VERIFICATION)
        raise CrioError(f"the bundle's install script {what} (exit {code}); nothing was changed", ExitCode.INSTALL)
