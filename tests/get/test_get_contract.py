"""scripts/get carries a bash copy of the crio/ naming rules; these tests hold it to the Python originals.

Each query runs the script's own function through its hidden `--contract FUNCTION ARGS...` mode,
batched into one bash process per table so the whole file costs a few processes.
"""

from __future__ import annotations

import subprocess

from helpers.get_fixtures import GET_SCRIPT

from crio.arch import ALIASES, ARCHITECTURES, normalize_arch
from crio.artifacts import MAIN_MARKER, artifact_url, marker_for_request, public_base_url, tarball_name
from crio.errors import CrioError, ExitCode
from crio.revision import parse_minor_series, parse_revision

SHA = "0123456789abcdef0123456789abcdef01234567"
GOOD_REVISIONS = [
    SHA, SHA.upper(), "v1.21.0", "1.21.0", "v0.0.0", "v1.100.3", "v1.9.12", "v2.0.0", "v1.22.0-rc.1",
    "v1.22.0-alpha", "v1.22.0-0.3.7", "v1.22.0-x.7.z.92", "v1.22.0-x-y-z", "1.30.0-rc.0", "v10.20.30",
]
BAD_REVISIONS = [
    "", " ", "v1.21.0 ", " v1.21.0", "v1.21", "1.21", "v1", "v1.21.0.1", "v01.21.0", "v1.021.0", "v1.21.00",
    "V1.21.0", "vv1.21.0", "v1.22.0-", "v1.22.0-01", "v1.22.0-rc..1", "v1.22.0+build", "latest", "main",
    SHA[:39], SHA + "0", SHA[:7], "g" * 40, "../v1.21.0", "v1.21.0/..", "v1.21.0\n", "v1.2x.0", "-v1.21.0",
]
ARCH_INPUTS = [*ALIASES, *(a.upper() for a in ALIASES), "X86_64", "Aarch64", "sparc64", "i386", "arm", "",
               " amd64", "amd64 ", "x86 64", "mips64le", "riscv64"]
BUCKETS = ["cri-o", "gs://cri-o", "my.bucket-1", "a_b", "ab", "a" * 63, "a" * 64, "Cri-o", "-crio", "crio-",
           "cri..o", "cri/o", ""]
CHANNELS = ["", "v1.21", "1.21", "v1.9", "v1.100", "v01.21", "v1.21.0", "v1", "1.x"]


def query(calls: list[list[str]]) -> list[tuple[int, str]]:
    """Run the script's contract functions in one bash process (`get --contract`, batch on stdin)."""
    payload = "".join("\x1f".join(call) + "\0" for call in calls)
    proc = subprocess.run(["bash", str(GET_SCRIPT), "--contract"], input=payload, capture_output=True,
                          text=True, check=True)
    results = []
    for record in proc.stdout.split("\0")[:-1]:
        code, _, out = record.partition("\t")
        results.append((int(code), out))
    assert len(results) == len(calls)
    return results


def python_or_none(fn, *args):
    try:
        return str(fn(*args))
    except CrioError:
        return None


def compare(calls: list[list[str]], expected: list[str | None]) -> None:
    got = query(calls)
    mismatches = []
    for call, want, (code, out) in zip(calls, expected, got, strict=True):
        have = out if code == 0 else None
        if have != want:
            mismatches.append(f"{call}: bash {have!r} (exit {code}), python {want!r}")
    assert not mismatches, "\n".join(mismatches)


def test_arch_normalisation_matches_crio_arch() -> None:
    compare([["normalize_arch", a] for a in ARCH_INPUTS], [python_or_none(normalize_arch, a) for a in ARCH_INPUTS])


def test_revision_acceptance_matches_crio_revision() -> None:
    inputs = GOOD_REVISIONS + BAD_REVISIONS
    expected = [python_or_none(parse_revision, r) for r in inputs]
    assert all(expected[: len(GOOD_REVISIONS)]) and not any(expected[len(GOOD_REVISIONS):]), "table is wrong"
    compare([["parse_revision", r] for r in inputs], expected)


def test_minor_series_and_markers_match() -> None:
    def series(text: str) -> str | None:
        parsed = parse_minor_series(text)
        return f"{parsed[0]}.{parsed[1]}" if parsed else None

    compare([["parse_minor_series", c] for c in CHANNELS], [series(c) for c in CHANNELS])
    compare([["marker_for_request", c] for c in CHANNELS], [python_or_none(marker_for_request, c) for c in CHANNELS])
    assert query([["marker_for_request"]]) == [(0, MAIN_MARKER)]


def test_tarball_names_for_every_arch_and_revision() -> None:
    revisions = [*GOOD_REVISIONS, "bad", "v1.21"]
    archs = [*ARCHITECTURES, "x86_64", "aarch64", "sparc"]
    calls = [["tarball_name", a, r] for a in archs for r in revisions]
    compare(calls, [python_or_none(tarball_name, a, r) for a in archs for r in revisions])


def test_bucket_urls_match() -> None:
    compare([["public_base_url", b] for b in BUCKETS], [python_or_none(public_base_url, b) for b in BUCKETS])
    bases = ["https://mirror.example/crio", "https://mirror.example/crio/", "file:///srv/bucket//"]
    name = tarball_name("amd64", "v1.21.0")
    compare([["artifact_url", b, name] for b in bases], [artifact_url(b, name) for b in bases])


def test_exit_codes_match() -> None:
    codes = [c for c in ExitCode if c <= ExitCode.NOT_ROOT]
    assert query([["exit_code", c.name.lower()] for c in codes]) == [(0, str(int(c))) for c in codes]
    assert query([["exit_code", "no_such_code"]])[0][0] != 0


def test_help_lists_every_installer_exit_code() -> None:
    proc = subprocess.run(["bash", str(GET_SCRIPT), "-h"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for code in ExitCode:
        if code <= ExitCode.NOT_ROOT:
            assert f"\n  {int(code)} " in proc.stdout


def test_shellcheck_clean() -> None:
    proc = subprocess.run(["shellcheck", "-x", str(GET_SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_last_line_runs_main() -> None:
    lines = [line for line in GET_SCRIPT.read_text().splitlines() if line.strip()]
    assert lines[-1] == 'main "$@"'
