"""Measure one command as a child process: wall seconds, CPU seconds and its own peak RSS.

A small launcher process starts the command and reads its rusage: a child's
ru_maxrss counts from its parent's RSS at fork time, so measuring straight from
a benchmark that holds large buffers would charge them to the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_kib": usage.ru_maxrss, "code": code, "stderr": err.decode(errors="replace")[-2000:]}))
"""


@dataclass(frozen=True)
class Measurement:
    wall: float      # seconds
    cpu: float       # user + system seconds of the command and the children it waited for
    rss_mb: float    # the command's own peak resident set


def measure(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measurement:
    """Run `command` (its output discarded) and return its figures; a failing command stops the benchmark."""
    out = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], env=env, cwd=cwd, capture_output=True,
                         text=True, check=True)
    data = json.loads(out.stdout)
    if data["code"] != 0:
        raise SystemExit(f"benchmark command failed ({data['code']}): {' '.join(command[:4])}\n{data['stderr']}")
    return Measurement(data["wall"], data["cpu"], data["rss_kib"] / 1024)


def print_figures(figures: dict[str, object], targets: dict[str, float]) -> None:
    """A `figure  value  target` table, the targets being upper limits."""
    width = max(len(key) for key in figures) + 2
    print(f"{'figure':<{width}}{'value':>14}  target")
    for key, value in figures.items():
        target = targets.get(key)
        print(f"{key:<{width}}{value!s:>14}  {'<= ' + str(target) if target is not None else ''}")
