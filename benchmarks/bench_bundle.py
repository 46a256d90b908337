"""Benchmark `crio-release bundle` for two architectures against one architecture's `tar | pigz -n -6`.

The issue's bar: both architectures' bundles in no more wall time than pigz
takes for one (<= 1.0), each no more than 1.02x pigz's size, the builder's peak
RSS <= 150 MB; also vs plain `tar czf` (<= 0.6). The one-architecture build is
shown for context. Every command runs as a child process (measure.py: its own
peak RSS from os.wait4), in interleaved rounds so all see the same background
load; a ratio is taken within each round and the median over rounds is
reported, with the median wall and CPU seconds of each command.

Trees: bundle_tree.py (about 200 MB of slices of this machine's ELF files per
architecture, configs shared).

    .venv/bin/python benchmarks/bench_bundle.py [--size-mb 200] [--repeat 5] [--json]
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

from bundle_tree import ROOT, builder_command, pigz_command, stage, write_spec
from measure import measure

OTHER_ARCH = {"amd64": "arm64", "arm64": "amd64"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="per architecture")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "release")]
    from crio.arch import host_arch

    arch = host_arch()
    archs = [arch, OTHER_ARCH.get(arch, "amd64")]
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    try:
        report = _run(work, archs, args.size_mb, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args.repeat)


def _run(work: Path, archs: list[str], size_mb: int, repeat: int) -> dict[str, object]:
    trees = stage(work / "trees", archs, size_mb)
    tree_bytes = sum(f.stat().st_size for f in trees[archs[0]].rglob("*") if f.is_file())
    spec = work / "spec.toml"
    write_spec(spec, trees)
    host = trees[archs[0]]
    for tree in trees.values():
        measure(["tar", "cf", "/dev/null", "-C", str(tree.parent), tree.name])   # warm the page cache
    ref_out, plain_out, both_dir, one_dir = work / "ref.tgz", work / "plain.tgz", work / "both", work / "one"
    commands = {
        "tar | pigz -n -6": pigz_command(host, ref_out),
        "tar czf": ["tar", "czf", str(plain_out), "-C", str(host.parent), host.name],
        "bundle, both arches": builder_command(spec, archs, both_dir, host),
        "bundle, one arch": builder_command(spec, archs[:1], one_dir, host),
    }
    outputs = {"bundle, both arches": both_dir, "bundle, one arch": one_dir}
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for round_ in range(repeat):
        for name, cmd in commands.items():
            if name == "tar czf" and round_:
                continue   # the slowest, with the loosest limit: once is enough
            shutil.rmtree(outputs.get(name, work / "none"), ignore_errors=True)
            m = measure(cmd)
            runs[name].append((m.wall, m.cpu, m.rss_mb))
    sizes = {
        "tar | pigz -n -6": ref_out.stat().st_size,
        "tar czf": plain_out.stat().st_size,
        "bundle, both arches": (both_dir / _tarball(both_dir, archs[0])).stat().st_size,
        "bundle, one arch": (one_dir / _tarball(one_dir, archs[0])).stat().st_size,
    }
    results = {name: {"wall_s": round(statistics.median(r[0] for r in rows), 3),
                      "cpu_s": round(statistics.median(r[1] for r in rows), 3),
                      "peak_rss_mb": round(max(r[2] for r in rows), 1), "size": sizes[name]}
               for name, rows in runs.items()}

    def per_round(name: str) -> float:
        return round(statistics.median(ours[0] / ref[0] for ours, ref in zip(runs[name], runs["tar | pigz -n -6"],
                                                                               strict=True)), 3)

    ratios = {
        "both_arches_wall_vs_pigz": per_round("bundle, both arches"),
        "both_arches_wall_vs_tar_czf": round(results["bundle, both arches"]["wall_s"] / results["tar czf"]["wall_s"], 3),
        "size_vs_pigz": round(sizes["bundle, both arches"] / sizes["tar | pigz -n -6"], 4),
        "peak_rss_mb": results["bundle, both arches"]["peak_rss_mb"],
    }
    limits = {"both_arches_wall_vs_pigz": 1.0, "both_arches_wall_vs_tar_czf": 0.6, "size_vs_pigz": 1.02,
              "peak_rss_mb": 150}
    context = {
        "one_arch_wall_vs_pigz": per_round("bundle, one arch"),
        "both_arches_cpu_vs_pigz": round(results["bundle, both arches"]["cpu_s"] / results["tar | pigz -n -6"]["cpu_s"], 3),
    }
    return {"tree_bytes_per_arch": tree_bytes, "archs": archs, "cpus": os.cpu_count(), "load": os.getloadavg(),
            "results": results, "ratios": ratios, "limits": limits, "context": context,
            "pass": all(ratios[k] <= limits[k] for k in limits)}


def _tarball(out_dir: Path, arch: str) -> str:
    return next(p.name for p in out_dir.glob(f"cri-o.{arch}.*.tar.gz"))


def _print(report: dict, repeat: int) -> None:
    print(f"trees: {report['tree_bytes_per_arch'] / 1e6:.0f} MB per arch ({', '.join(report['archs'])}), "
          f"{report['cpus']} CPUs, load {' '.join(f'{x:.1f}' for x in report['load'])}")
    print(f"medians of {repeat} interleaved rounds (tar czf: 1 run); size: the {report['archs'][0]} tarball")
    print(f"{'command':<22}{'wall s':>9}{'CPU s':>8}{'size MB':>10}{'peak RSS MB':>13}")
    for name, row in report["results"].items():
        print(f"{name:<22}{row['wall_s']:>9.2f}{row['cpu_s']:>8.2f}{row['size'] / 1e6:>10.2f}{row['peak_rss_mb']:>13.1f}")
    print()
    for key, value in report["ratios"].items():
        limit = report["limits"][key]
        print(f"{key:<30}{value:>9}  (limit {limit})  {'ok' if value <= limit else 'OVER'}")
    for key, value in report["context"].items():
        print(f"{key:<30}{value:>9}  (context)")


if __name__ == "__main__":
    main()
