"""Choose the bundle compressor by measurement: each candidate builds both architectures' bundles.

A candidate is a deflate implementation, level and block size (block_codecs.py):
libdeflate through the `deflate` wheel (one gzip member per block, what the
builder ships), or pigz's scheme (one member, 32 KiB dictionary, sync-flushed
blocks) through the system zlib, zlib-ng (`pip install zlib-ng`, benchmark only)
or isal. Each round runs the reference — one architecture's `tar | pigz -n -6` —
then every candidate, as child processes (measure.py); per candidate it reports
the median over rounds of its wall time / the reference's in the same round, its
median CPU seconds / the reference's, its amd64 tarball's size / pigz's, and its
peak RSS. The bar (issue 17): wall <= 1.0, size <= 1.02, RSS <= 150 MB.

    .venv/bin/python benchmarks/bench_compressors.py [--size-mb 100] [--repeat 3] [--codec C ...] [--json]

`--files F ...` only compares sizes, on those files (e.g. Go binaries, which the
ELF pool of this machine lacks): every candidate vs `pigz -n -6` of the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from block_codecs import available
from bundle_tree import ROOT, builder_command, pigz_command, stage, write_spec
from measure import measure

CANDIDATES = [
    "stream:zlib:5:1024", "stream:zlib:6:1024",
    "stream:zlib-ng:6:1024", "stream:zlib-ng:7:1024",
    "stream:isal:3:1024",
    "libdeflate:4:1024", "libdeflate:5:1024", "libdeflate:6:1024", "libdeflate:7:1024",
    "libdeflate:6:256", "libdeflate:6:4096", "libdeflate:5:4096",
]
REFERENCE = "tar | pigz -n -6"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100, help="per architecture")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--codec", action="append", help="a candidate (repeatable); default: the list above")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--files", nargs="+", type=Path, help="compare sizes only, on these files")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "release")]
    from crio.arch import host_arch

    codecs = [c for c in (args.codec or CANDIDATES) if available(c)]
    skipped = sorted(set(args.codec or CANDIDATES) - set(codecs))
    if args.files:
        _sizes_only(args.files, codecs)
        return
    arch = host_arch()
    archs = [arch, "arm64" if arch == "amd64" else "amd64"]
    work = Path(tempfile.mkdtemp(prefix="bench-codecs-"))
    try:
        rows = _run(work, archs, codecs, args.size_mb, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"archs": archs, "size_mb_per_arch": args.size_mb, "rounds": args.repeat, "cpus": os.cpu_count(),
              "load": os.getloadavg(), "skipped (module not installed)": skipped, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"both arches ({', '.join(archs)}), {args.size_mb} MB each, {os.cpu_count()} CPUs, medians of "
          f"{args.repeat} rounds, load {' '.join(f'{x:.1f}' for x in report['load'])}"
          + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    print(f"{'candidate':<24}{'wall/pigz':>10}{'CPU/pigz':>10}{'size/pigz':>11}{'RSS MB':>8}  bar")
    for name, row in rows.items():
        ok = row["wall_vs_pigz"] <= 1.0 and row["size_vs_pigz"] <= 1.02 and row["peak_rss_mb"] <= 150
        print(f"{name:<24}{row['wall_vs_pigz']:>10.3f}{row['cpu_vs_pigz']:>10.3f}{row['size_vs_pigz']:>11.4f}"
              f"{row['peak_rss_mb']:>8.1f}  {'ok' if ok else 'fails'}")


def _sizes_only(files: list[Path], codecs: list[str]) -> None:
    import io
    import subprocess

    from block_codecs import parse_codec
    from crio_release.build.tarball import ParallelGzipWriter

    data = b"".join(f.read_bytes() for f in files)
    ref = len(subprocess.run(["pigz", "-n", "-6", "-c"], input=data, capture_output=True, check=True).stdout)
    print(f"{len(files)} files, {len(data) / 1e6:.1f} MB; pigz -n -6: {ref / 1e6:.2f} MB")
    for codec in codecs:
        out = io.BytesIO()
        writer = ParallelGzipWriter(out, codec=parse_codec(codec))
        writer.write(data)
        writer.close()
        print(f"{codec:<24}size/pigz {len(out.getvalue()) / ref:.4f}")


def _run(work: Path, archs: list[str], codecs: list[str], size_mb: int, repeat: int) -> dict[str, dict]:
    trees = stage(work / "trees", archs, size_mb)
    spec = work / "spec.toml"
    write_spec(spec, trees)
    host = trees[archs[0]]
    measure(["tar", "cf", "/dev/null", "-C", str(host.parent.parent), "."])   # warm the page cache
    ref_out = work / "ref.tgz"
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [REFERENCE, *codecs]}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        ref = measure(pigz_command(host, ref_out))
        runs[REFERENCE].append((ref.wall, ref.cpu, ref.rss_mb))
        for codec in codecs:
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            m = measure(builder_command(spec, archs, out, host, codec))
            runs[codec].append((m.wall / ref.wall, m.cpu / ref.cpu, m.rss_mb))
            sizes[codec] = next(out.glob(f"cri-o.{archs[0]}.*.tar.gz")).stat().st_size
    ref_size = ref_out.stat().st_size
    rows = {REFERENCE: {"wall_vs_pigz": 1.0, "cpu_vs_pigz": 1.0, "size_vs_pigz": 1.0,
                        "peak_rss_mb": round(max(r[2] for r in runs[REFERENCE]), 1),
                        "wall_s": round(statistics.median(r[0] for r in runs[REFERENCE]), 3)}}
    for codec in codecs:
        rows[codec] = {"wall_vs_pigz": round(statistics.median(r[0] for r in runs[codec]), 3),
                       "cpu_vs_pigz": round(statistics.median(r[1] for r in runs[codec]), 3),
                       "size_vs_pigz": round(sizes[codec] / ref_size, 4),
                       "peak_rss_mb": round(max(r[2] for r in runs[codec]), 1)}
    return rows


if __name__ == "__main__":
    main()
