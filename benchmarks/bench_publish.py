"""Publisher speed and memory, as ratios against plain client uploads of the same bytes in the same run.

Publishes both default architectures' full sets (tarballs of --size-mb MB of
random data each, plus checksum, SBOM and manifest) to a fake-gcs-server the
benchmark starts, and compares:

* first publish vs. one `blob.upload_from_filename` per file, sequentially, into
  another bucket (target: <= 1.2x);
* re-publishing the unchanged set: bytes uploaded (target: 0) and time vs. the
  first publish (target: <= 10 %);
* peak RSS of the publishing process (target: <= 200 MB).

Each measured operation runs in its own child process (timed inside it, after
imports) so peak RSS is that operation's alone.

    .venv/bin/python benchmarks/bench_publish.py [--size-mb 32] [--repeat 3] [--json]
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

from measure import print_figures

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

PUBLISH = """
import json, resource, sys, time
from pathlib import Path
from crio.revision import parse_revision
from crio_release.publish.publish import publish_revision
from google.cloud import storage  # imported before the clock starts, as in the plain run
started = time.perf_counter()
report = publish_revision(sys.argv[1], parse_revision(sys.argv[2]), Path(sys.argv[3]))
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "bytes": report.bytes_uploaded, "uploaded": len(report.uploaded),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PLAIN = """
import json, resource, sys, time
from pathlib import Path
from google.cloud import storage
started = time.perf_counter()
bucket = storage.Client(project="bench").bucket(sys.argv[1])
total = 0
for path in sorted(Path(sys.argv[2]).iterdir()):
    bucket.blob("artifacts/" + path.name).upload_from_filename(str(path))
    total += path.stat().st_size
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "bytes": total,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_set(directory: Path, revision: str, size_mb: int) -> None:
    from helpers.publish import spdx_document

    from crio.arch import DEFAULT_BUILD_ARCHITECTURES
    from crio.artifacts import arch_files
    from crio.checksums import format_sha256sum, sha256_file
    from crio.manifest import build_revision_manifest, write_revision_manifest
    from crio.revision import parse_revision

    rev = parse_revision(revision)
    for arch in DEFAULT_BUILD_ARCHITECTURES:
        names = arch_files(arch, rev)
        tarball = directory / names["tarball"]
        with open(tarball, "wb") as out:  # random bytes: incompressible, like a gzip stream
            for _ in range(size_mb):
                out.write(os.urandom(1 << 20))
        digest = sha256_file(tarball)
        (directory / names["checksum"]).write_text(format_sha256sum(digest, names["tarball"]))
        (directory / names["sbom"]).write_text(spdx_document(names["tarball"], digest, revision))
    write_revision_manifest(directory, build_revision_manifest(directory, rev, list(DEFAULT_BUILD_ARCHITECTURES),
                                                               "bench"))


def child(code: str, *args: str, emulator: str) -> dict:
    env = {**os.environ, "STORAGE_EMULATOR_HOST": emulator}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=32, help="size of each tarball (default 32 MB)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; medians are reported")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    from helpers.gcs import fake_gcs_server

    runs: dict[str, list[dict]] = {"plain": [], "first": [], "again": []}
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp, fake_gcs_server() as emulator:
        directory = Path(tmp) / "set"
        directory.mkdir()
        make_set(directory, "v1.22.1", args.size_mb)
        # Interleaved repetitions into fresh buckets; medians, since the emulator's timing is noisy.
        for rep in range(args.repeat):
            emulator.create_bucket(f"plain-{rep}")
            emulator.create_bucket(f"published-{rep}")
            runs["plain"].append(child(PLAIN, f"plain-{rep}", str(directory), emulator=emulator.url))
            runs["first"].append(child(PUBLISH, f"gs://published-{rep}", "v1.22.1", str(directory),
                                       emulator=emulator.url))
            runs["again"].append(child(PUBLISH, f"gs://published-{rep}", "v1.22.1", str(directory),
                                       emulator=emulator.url))

    def median(kind: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[kind])

    plain_s, first_s, again_s = (median(kind, "seconds") for kind in ("plain", "first", "again"))
    figures = {
        "set_bytes": runs["plain"][0]["bytes"],
        "repetitions": args.repeat,
        "plain_upload_s": round(plain_s, 3),
        "publish_s": round(first_s, 3),
        "publish_vs_plain": round(first_s / plain_s, 3),
        "republish_s": round(again_s, 3),
        "republish_bytes": max(run["bytes"] for run in runs["again"]),
        "republish_vs_publish": round(again_s / first_s, 3),
        "publish_peak_rss_mb": round(max(run["rss_mb"] for run in runs["first"]), 1),
        "plain_peak_rss_mb": round(max(run["rss_mb"] for run in runs["plain"]), 1),
    }
    targets = {"publish_vs_plain": 1.2, "republish_vs_publish": 0.10, "republish_bytes": 0,
               "publish_peak_rss_mb": 200}
    if args.json:
        print(json.dumps({"figures": figures, "targets": targets}, indent=2))
        return
    print_figures(figures, targets)


if __name__ == "__main__":
    main()
