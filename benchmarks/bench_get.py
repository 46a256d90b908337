"""Installer speed and memory: scripts/get and crio-get against the least any verifying installer does.

Reference (same run, same server): `curl -fsSLo F URL && curl -fsSLo F.sha256sum URL.sha256sum &&
sha256sum -c F.sha256sum && tar xzf F`. Both installers do all of that plus the entry checks, a check
of every file against manifest.json, the lock, the journal and the bundle's own install script (each
file renamed from the private staging into DESTDIR, a sha256 record), so the ratio includes work the
reference does not do. With --usr-tmpfs (root), DESTDIR/usr is a tmpfs of its own (and the reference's
directory one too): the binaries cross file systems from the staging, so they are copied once more. The bundle is shaped like the builder's: the real in-bundle
install script and files of release/crio_release/build/files, --size MB (default 120) of random-ish
binaries (a 32-symbol alphabet, so gzip saves about a third), and manifest.json as the last entry.
It is served by a local HTTP server.

    .venv/bin/python benchmarks/bench_get.py [--size MB] [--runs N] [--json] [--usr-tmpfs]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from measure import measure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.bundle_install import BUNDLE_FILES, write_manifest  # noqa: E402
from helpers.get_fixtures import CRIO_GET, GET_SCRIPT, lay_out_bucket, write_side_files  # noqa: E402
from helpers.http_server import FaultServer  # noqa: E402

from crio.artifacts import artifact_url, tarball_name  # noqa: E402

REVISION = "v1.99.0"
ARCH = "amd64"


def random_ish(size: int, seed: int) -> bytes:
    """Random bytes over a 32-symbol alphabet: 5 bits of entropy per byte, so gzip saves about a third."""
    rng = random.Random(seed)
    table = bytes.maketrans(bytes(range(256)), bytes(range(0x30, 0x50)) * 8)
    return rng.randbytes(size).translate(table)


def build_bucket(root: Path, size_mb: int) -> Path:
    stage = root / "stage" / "cri-o"
    shutil.copytree(BUNDLE_FILES, stage)
    half = size_mb * 1024 * 1024 // 2
    for name, data in (("bin/crio", b"#!/bin/sh\n" + random_ish(half, 1)), ("bin/conmon", random_ish(half, 2))):
        path = stage / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755)
    write_manifest(stage)
    # Sorted, manifest.json last: the order the bundle builder writes.
    members = sorted(p.relative_to(stage.parent).as_posix() for p in stage.rglob("*") if p.name != "manifest.json")
    members = ["cri-o", *members, "cri-o/manifest.json"]
    tarball = root / "build" / tarball_name(ARCH, REVISION)
    tarball.parent.mkdir(parents=True)
    with open(tarball, "wb") as out:
        tar = subprocess.Popen(["tar", "--no-recursion", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-",
                                "-C", str(stage.parent), "-T", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-n", "-6"], stdin=tar.stdout, stdout=out)
        assert tar.stdin is not None and tar.stdout is not None
        tar.stdout.close()
        tar.stdin.write("".join(f"{m}\n" for m in members).encode())
        tar.stdin.close()
        if tar.wait() or gz.wait():
            raise SystemExit("building the benchmark bundle failed")
    shutil.rmtree(root / "stage")
    write_side_files(tarball)
    return lay_out_bucket(root / "bucket", [tarball])


@contextlib.contextmanager
def tmpfs_at(directory: Path | None) -> Iterator[None]:
    """A tmpfs mounted on `directory` for the duration (nothing when None)."""
    if directory is None:
        yield
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(directory)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def _measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (KiB) of the command's own process."""
    m = measure(command, env=env, cwd=cwd)
    return m.wall, m.rss_mb * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=120, help="bundle payload in MB (default 120)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--usr-tmpfs", action="store_true",
                        help="put DESTDIR/usr (the binaries) on a tmpfs of its own, the reference's directory too "
                        "(needs root): files cross file systems from the installers' staging")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-get.") as tmp_text:
        tmp = Path(tmp_text)
        bucket = build_bucket(tmp, args.size)
        name = tarball_name(ARCH, REVISION)
        compressed = (bucket / "artifacts" / name).stat().st_size
        with FaultServer(bucket) as server:
            url = artifact_url(server.url, name)
            base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp)}
            results: dict[str, list[tuple[float, int]]] = {"reference": [], "scripts/get": [], "crio-get": [],
                                                           "install script": []}
            unpacked = tmp / "unpacked"
            unpacked.mkdir()
            subprocess.run(["tar", "xzf", str(bucket / "artifacts" / name), "-C", str(unpacked)], check=True)
            for run in range(args.runs):
                work = tmp / f"ref{run}"
                work.mkdir()
                reference = (f"curl -fsSLo {name} {url} && curl -fsSLo {name}.sha256sum {url}.sha256sum && "
                             f"sha256sum -c --quiet {name}.sha256sum && tar xzf {name}")
                with tmpfs_at(work if args.usr_tmpfs else None):
                    results["reference"].append(_measure(["bash", "-c", reference], base_env, work))
                shutil.rmtree(work)
                for label, command in (("scripts/get", ["bash", str(GET_SCRIPT)]), ("crio-get", [str(CRIO_GET)])):
                    dest = tmp / f"dest-{run}"
                    env = {**base_env, "DESTDIR": str(dest)}
                    (dest / "usr").mkdir(parents=True)
                    # The bucket is unsigned, like the reference's check (sha256 only): signatures,
                    # required by default, are skipped so both sides do the same work.
                    with tmpfs_at(dest / "usr" if args.usr_tmpfs else None):
                        results[label].append(_measure([*command, "-a", ARCH, "--url", server.url, "-t", REVISION,
                                                        "--insecure-skip-signature-verification"], env, tmp))
                        if not (dest / "usr/local/bin/crio").is_file():
                            raise SystemExit(f"{label} did not install crio")
                    shutil.rmtree(dest)
                dest = tmp / f"dest-alone-{run}"
                results["install script"].append(_measure(["bash", "./install"], {**base_env, "DESTDIR": str(dest)},
                                                         unpacked / "cri-o"))
                shutil.rmtree(dest)

    ref = statistics.median(w for w, _ in results["reference"])
    alone = statistics.median(w for w, _ in results["install script"])
    rows = []
    for label, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        rss = max(r for _, r in samples) / 1024
        # The same run's reference beside each sample: a machine whose speed drifts between runs (a shared VM)
        # moves both, so the median of these paired ratios is steadier than the ratio of the two medians.
        paired = statistics.median(w / r for (w, _), (r, _) in zip(samples, results["reference"], strict=True))
        row = {"name": label, "wall_s": round(wall, 3), "ratio": round(wall / ref, 2),
               "paired_ratio": round(paired, 2), "peak_rss_mb": round(rss, 1)}
        if label in ("scripts/get", "crio-get"):
            row["ratio_without_install_script"] = round((wall - alone) / ref, 2)
        rows.append(row)
    summary = {"usr_tmpfs": args.usr_tmpfs, "bundle_mb": args.size, "tarball_mb": round(compressed / 2**20, 1), "runs": args.runs, "rows": rows,
               "targets": {"scripts/get": 1.0, "crio-get": 0.45, "crio-get peak RSS MB": 100}}   # issue 17
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(("DESTDIR/usr on a tmpfs of its own; " if args.usr_tmpfs else "") + f"bundle {args.size} MB uncompressed, tarball {summary['tarball_mb']} MB, median of {args.runs} runs")
    print(f"{'run':<16}{'wall s':>9}{'ratio':>8}{'paired':>8}{'w/o install':>13}{'peak RSS MB':>14}")
    for row in rows:
        net = row.get("ratio_without_install_script")
        print(f"{row['name']:<16}{row['wall_s']:>9.3f}{row['ratio']:>8.2f}{row['paired_ratio']:>8.2f}"
              f"{'' if net is None else f'{net:.2f}':>13}"
              f"{row['peak_rss_mb']:>14.1f}")
    print("ratio: median wall over the reference's median wall; paired: median of each run's wall over that run's "
          "reference")
    print("w/o install: minus the bundle's own install script run alone (the reference installs nothing)")
    print("peak RSS: of the installer's own process (bash for scripts/get and the reference, python for crio-get)")
    print("targets: scripts/get <= 1.15x, crio-get <= 0.70x and <= 100 MB peak RSS (issue 12); "
          "scripts/get <= 1.0x, crio-get <= 0.45x (issue 17)")


if __name__ == "__main__":
    main()
