"""Benchmark the in-bundle `install` script against the least any verifying installer does.

Reference (same run, same warm tree): `sha256sum -c` of every file, then
`cp -r` of the payload directories into an empty DESTDIR. Measured, as ratios
to that reference: a fresh install (verify against manifest.json, render,
atomic per-file writes, record), a re-install over it, `--list`, and
`--uninstall`; plus each one's peak RSS (GNU time's %M: the script or the
largest tool it ran). The tree imitates a production bundle: 8 binaries in
bin/, 20 CNI plugins, and this repository's configs, man page and completions.

    .venv/bin/python benchmarks/bench_bundle_install.py [--size-mb 100] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_FILES = ROOT / "release" / "crio_release" / "build" / "files"
BIN_NAMES = ("crio", "pinns", "conmon", "conmonrs", "crun", "runc", "crictl", "crio-status")
CNI_NAMES = tuple(f"plugin-{i:02d}" for i in range(20))


def stage_bundle(top: Path, size_mb: int) -> None:
    """bundle_files + binaries of pseudo-random bytes totalling `size_mb`, + manifest.json and SHA256SUMS."""
    shutil.copytree(BUNDLE_FILES, top)
    names = [f"bin/{n}" for n in BIN_NAMES] + [f"cni-plugins/{n}" for n in CNI_NAMES]
    # Binaries take 70% of the bytes, plugins 30%, like a real bundle.
    sizes = [int(size_mb * 0.7 * 2**20 / len(BIN_NAMES))] * len(BIN_NAMES)
    sizes += [int(size_mb * 0.3 * 2**20 / len(CNI_NAMES))] * len(CNI_NAMES)
    seed = hashlib.sha256(b"bench").digest()
    for name, size in zip(names, sizes, strict=True):
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            block = hashlib.sha512(seed + name.encode()).digest() * 16384  # 1 MiB
            left = size
            while left > 0:
                out.write(block[: min(left, len(block))])
                left -= len(block)
        path.chmod(0o755)
    files = sorted(p for p in top.rglob("*") if p.is_file())
    entries = [{"path": p.relative_to(top).as_posix(), "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                "size": p.stat().st_size, "mode": f"{p.stat().st_mode & 0o7777:04o}"} for p in files]
    (top / "manifest.json").write_text(json.dumps({"files": entries}, indent=2) + "\n")
    (top.parent / "SHA256SUMS").write_text("".join(f"{e['sha256']}  {e['path']}\n" for e in entries))


TIME = shutil.which("time", path="/usr/bin:/bin")


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, failing loudly.

    Peak RSS comes from GNU time (%M: the largest of the command and the tools it
    waited for); os.wait4 would report this Python process's own peak, which a
    forked child inherits as its starting figure.
    """
    rss_file = cwd.parent / "rss.txt"
    wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *argv] if TIME else argv
    start = time.perf_counter()
    proc = subprocess.run(wrapped, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {proc.stderr.decode()}")
    rss_kb = float(rss_file.read_text().split()[-1]) if TIME else float("nan")
    return elapsed, rss_kb / 1024


def measure(work: Path, top: Path, runs: int) -> dict[str, dict[str, float]]:
    base_env = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "PREFIX", "STATEDIR")}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                     ("reference", "install", "reinstall", "list", "uninstall")}
    payload = "bin cni-plugins contrib etc man completions"
    for i in range(runs):
        ref_dest = work / f"ref{i}"
        ref_dest.mkdir()
        results["reference"].append(run(
            ["sh", "-c", f"sha256sum -c --quiet ../SHA256SUMS && cp -r {payload} '{ref_dest}/'"], base_env, top))
        dest = work / f"dest{i}"
        dest.mkdir()
        env = {**base_env, "DESTDIR": str(dest)}
        results["install"].append(run(["bash", "./install"], env, top))
        results["reinstall"].append(run(["bash", "./install"], env, top))
        results["list"].append(run(["bash", "./install", "--list"], env, top))
        results["uninstall"].append(run(["bash", str(dest / "var/lib/crio-install/install"), "--uninstall"], env, top))
        if any(dest.iterdir()):
            raise SystemExit(f"uninstall left files in {dest}")
        shutil.rmtree(ref_dest)
    ref = statistics.median(t for t, _ in results["reference"])
    return {name: {"seconds": statistics.median(t for t, _ in rows),
                   "ratio": statistics.median(t for t, _ in rows) / ref,
                   "peak_rss_mb": max(m for _, m in rows)}
            for name, rows in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        top = work / "cri-o"
        stage_bundle(top, args.size_mb)
        report = measure(work, top, args.runs)
    if args.json:
        json.dump({"size_mb": args.size_mb, "runs": args.runs, "results": report}, sys.stdout, indent=2)
        print()
        return
    print(f"bundle of {args.size_mb} MB, 28 binaries; median of {args.runs} runs; "
          "reference = sha256sum -c + cp -r")
    print(f"{'step':<12} {'seconds':>8} {'x reference':>12} {'peak RSS MB':>12}")
    for name, row in report.items():
        print(f"{name:<12} {row['seconds']:>8.3f} {row['ratio']:>12.2f} {row['peak_rss_mb']:>12.1f}")


if __name__ == "__main__":
    main()
