"""`--verify` speed: scripts/get and crio-get against `sha256sum` over the same installed files (issue 18).

A synthetic bundle of --size MB (bench_get's: the real in-bundle install script and files, two random-ish
binaries) is installed once by crio-get into a DESTDIR; then, interleaved (the order rotates each run), the
reference `sha256sum FILE...` over every file the record lists, `scripts/get --verify` and `crio-get
--verify` are timed; the page cache is warmed first, so all three read from memory. Each ratio is the
median installer wall time over the median reference wall time (CPU time too: hashing in
parallel can cost more CPU than one sha256sum); the target is a wall ratio <= 1.0 for both.

    .venv/bin/python benchmarks/bench_verify.py [--size MB] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_get import ARCH, REVISION, build_bucket
from measure import measure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.get_fixtures import CRIO_GET, GET_SCRIPT  # noqa: E402

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR  # noqa: E402
from crio.record import parse_record, rows_by_path  # noqa: E402

TARGET = 1.0


def installed_files(dest: Path) -> list[str]:
    """Every file and config the record lists, on disk (what --verify hashes, but the stored install script)."""
    record = parse_record((dest / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).read_text())
    return [f"{dest}{row.path}" for row in rows_by_path(record).values() if row.kind.value != "dir"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100, help="bundle payload in MB (default 100)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-verify.") as tmp_text:
        tmp = Path(tmp_text)
        bucket = build_bucket(tmp, args.size)
        dest = tmp / "dest"
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp), "DESTDIR": str(dest)}
        subprocess.run([str(CRIO_GET), "-a", ARCH, "--url", bucket.as_uri(), "-t", REVISION,
                        "--insecure-skip-signature-verification"], env=env, check=True, capture_output=True)
        files = installed_files(dest)
        installed_mb = sum(os.path.getsize(f) for f in files) / 2**20
        commands = {"sha256sum": ["sha256sum", "--", *files], "scripts/get": ["bash", str(GET_SCRIPT), "--verify"],
                    "crio-get": [str(CRIO_GET), "--verify"]}
        measure(commands["sha256sum"], env=env, cwd=tmp)        # warm the page cache
        walls: dict[str, list[float]] = {label: [] for label in commands}
        cpus: dict[str, list[float]] = {label: [] for label in commands}
        labels = list(commands)
        for run in range(args.runs):
            for label in labels[run % 3:] + labels[:run % 3]:
                figures = measure(commands[label], env=env, cwd=tmp)
                walls[label].append(figures.wall)
                cpus[label].append(figures.cpu)

    ref, ref_cpu = statistics.median(walls["sha256sum"]), statistics.median(cpus["sha256sum"])
    rows = [{"name": label, "wall_s": round(statistics.median(w), 3), "ratio": round(statistics.median(w) / ref, 2),
             "cpu_s": round(statistics.median(cpus[label]), 3),
             "cpu_ratio": round(statistics.median(cpus[label]) / ref_cpu, 2)} for label, w in walls.items()]
    summary = {"installed_mb": round(installed_mb, 1), "files": len(files), "runs": args.runs, "rows": rows,
               "targets": {"scripts/get": TARGET, "crio-get": TARGET}}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{len(files)} installed files, {summary['installed_mb']} MB, median of {args.runs} interleaved runs")
    print(f"{'run':<14}{'wall s':>9}{'ratio':>8}{'CPU s':>9}{'CPU ratio':>11}")
    for row in rows:
        print(f"{row['name']:<14}{row['wall_s']:>9.3f}{row['ratio']:>8.2f}{row['cpu_s']:>9.3f}{row['cpu_ratio']:>11.2f}")
    print(f"targets: scripts/get --verify and crio-get --verify <= {TARGET:.2f}x sha256sum over the same files")


if __name__ == "__main__":
    main()
