"""scripts/get and the in-bundle install script carry bash copies of crio/ rules; these tests hold them to Python.

Each query runs the script's own function through its hidden `--contract FUNCTION ARGS...` mode,
batched into one bash process per table so the whole file costs a few processes. The checks take
the script paths as arguments, so the last test can run them against deliberately changed copies
and see each one fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import click
from crio_installer import journal
from crio_installer.binding import installed_state_at
from helpers.bundle_install import BUNDLE_FILES
from helpers.get_fixtures import CRIO_GET, GET_SCRIPT

from crio.arch import ALIASES, ARCHITECTURES, normalize_arch
from crio.artifacts import (
    BUNDLE_MAIN_MARKER,
    INSTALL_OPTION_CAPABILITIES,
    INSTALL_PATH_VARIABLES,
    INSTALL_RECORD,
    INSTALL_VARIABLES,
    MAIN_MARKER,
    OPTIONS_DECLARED_BY,
    SHA256_TOOLS,
    arch_files,
    artifact_url,
    bundle_marker_tag,
    is_channel_request,
    manifest_name,
    marker_for_request,
    marker_signature_name,
    parse_tarball_name,
    public_base_url,
    request_markers,
    tarball_name,
)
from crio.binding import MAX_MANIFEST_BYTES, bundle_identity, read_tarball_binding
from crio.bundle_manifest import BundleFile, BundleManifest
from crio.downgrade import revision_order
from crio.errors import INSTALL_SCRIPT_CODES, INSTALLER_CODES, CrioError, ExitCode, exit_code_help
from crio.manifest import FileEntry, RevisionManifest
from crio.marker import read_marker
from crio.paths import check_path_variable
from crio.record import check_row_paths, format_row, parse_record, rows_by_path
from crio.revision import Version, parse_minor_series, parse_revision
from crio.signed_marker import MarkerStatement, parse_marker_signature, sign_marker
from crio.signing import generate_keypair
from crio.urls import file_url_path, redact, redact_url

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
CHANNELS = ["", "v1.21", "1.21", "v1.9", "v1.100", "v01.21", "v1.21.0", "v1", "1.x", "release-1.36", "release-v1.9",
            "release-01.36", "release-1.36.0", "release-x", "release-", "release-1.36 ", "Release-1.36", "main",
            "latest", "release", SHA, "v1.21.0-rc.1"]


INSTALL_SCRIPT = BUNDLE_FILES / "install"


def query(calls: list[list[str]], script: Path = GET_SCRIPT) -> list[tuple[int, str]]:
    """Run a script's contract functions in one bash process (`SCRIPT --contract`, batch on stdin)."""
    payload = "".join("\x1f".join(call) + "\0" for call in calls)
    proc = subprocess.run(["bash", str(script), "--contract"], input=payload, capture_output=True,
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
    assert query([["marker_for_request"]]) == [(0, BUNDLE_MAIN_MARKER)]


def check_request_markers(get_script: Path) -> None:
    """Which marker a request reads, and which it falls back to: crio.artifacts.request_markers, in bash."""
    def python(request: str) -> tuple[int, str | None]:
        try:
            first, fallback = request_markers(request)
        except CrioError:
            return 1, None   # a usage error in both installers (resolve_request says which)
        return 0, f"{first} {fallback or '-'}"

    compare_outcomes([["request_markers", c] for c in CHANNELS], [python(c) for c in CHANNELS], get_script)
    compare_outcomes([["is_channel_request", c] for c in CHANNELS],
                     [(0, "yes" if is_channel_request(c) else "no") for c in CHANNELS], get_script)
    assert query([["request_markers"]], get_script) == [(0, f"{BUNDLE_MAIN_MARKER} {MAIN_MARKER}")]


def test_requests_read_the_markers_of_one_rule() -> None:
    assert request_markers("release-1.36")[1] == "latest-release-1.36.txt", "table is wrong"
    check_request_markers(GET_SCRIPT)


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


def bash_options(get_script: Path) -> dict[str, bool]:
    """Every spelling scripts/get's parse_options accepts -> whether it takes a value (read from its case labels)."""
    text = get_script.read_text()
    body = text.split("\nparse_options() {\n", 1)[1].split("\n}\n", 1)[0]
    options: dict[str, bool] = {}
    for labels, action in re.findall(r"^ {12}(-[^)*]*)\) (.*)$", body, re.MULTILINE):
        for spelling in labels.split(" | "):
            if spelling != "--":
                options[spelling] = "need_value" in action
    return options


def python_options() -> dict[str, bool]:
    """Every spelling crio-get's click command accepts -> whether it takes a value."""
    from crio_installer.cli import get_command

    options = {"-h": False, "--help": False}
    for param in get_command.params:
        assert isinstance(param, click.Option)
        for spelling in (*param.opts, *param.secondary_opts):
            options[spelling] = not param.is_flag
    return options


def check_options(get_script: Path) -> None:
    """Both installers accept the same spellings (upstream's -a -t -b -h -u among them) and list them in -h."""
    bash, python = bash_options(get_script), python_options()
    assert bash == python, f"options differ: bash only {sorted(set(bash.items()) - set(python.items()))}, " \
        f"python only {sorted(set(python.items()) - set(bash.items()))}"
    assert {k: bash[k] for k in ("-a", "-t", "-b", "-h", "-u", "-m")} == \
        {"-a": True, "-t": True, "-b": True, "-h": False, "-u": False, "-m": True}, "upstream's meaning changed"
    helps = [subprocess.run(command, capture_output=True, text=True, check=True).stdout
             for command in (["bash", str(get_script), "-h"], [str(CRIO_GET), "--help"])]
    for help_text in helps:
        missing = [s for s in bash if not re.search(rf"(^|[\s,(]){re.escape(s)}(?![\w-])", help_text)]
        assert not missing, f"help does not list {missing}"


def test_both_installers_take_the_same_options() -> None:
    check_options(GET_SCRIPT)


def test_last_line_runs_main() -> None:
    lines = [line for line in GET_SCRIPT.read_text().splitlines() if line.strip()]
    assert lines[-1] == 'main "$@"'


# --- rules shared with the in-bundle install script (and crio-get) --------------------------------

HEX = "ab" * 32


def python_outcome(fn, *args) -> tuple[int, str | None]:
    """(0, output) or (exit code, None): what a bash contract query answers, computed in Python."""
    try:
        return 0, fn(*args)
    except CrioError as exc:
        return int(exc.exit_code), None


def compare_outcomes(calls: list[list[str]], expected: list[tuple[int, str | None]], script: Path) -> None:
    """Exit code and (on success) output of each bash query equal Python's."""
    mismatches = []
    for call, want, (code, out) in zip(calls, expected, query(calls, script), strict=True):
        have = (code, out if code == 0 else None)
        if have != want:
            mismatches.append(f"{call}: bash {have!r}, python {want!r}")
    assert not mismatches, "\n".join(mismatches)


def exit_block(help_text: str) -> str:
    return help_text.split("Exit codes:\n", 1)[1].rstrip("\n")


def check_exit_codes(get_script: Path, install_script: Path) -> None:
    """Both scripts: every code they name has the table's number, and their help lists the table's labels."""
    codes = list(INSTALLER_CODES)
    assert query([["exit_code", c.name.lower()] for c in codes], get_script) == [(0, str(int(c))) for c in codes]
    names = query([["exit_codes"]], install_script)[0][1].split("\n")
    assert names == [c.name for c in INSTALL_SCRIPT_CODES], "install names other codes than the table"
    assert query([["exit_code", n] for n in names], install_script) == \
        [(0, str(int(c))) for c in INSTALL_SCRIPT_CODES]
    for script, table in ((get_script, INSTALLER_CODES), (install_script, INSTALL_SCRIPT_CODES)):
        out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=True).stdout
        assert exit_block(out) == exit_code_help(table), f"{script.name} --help differs from crio.errors"


def check_install_variables(get_script: Path, install_script: Path) -> None:
    assert query([["install_variables"]], get_script) == [(0, "\n".join(INSTALL_VARIABLES))]
    assert query([["path_variables"]], install_script) == [(0, "\n".join(INSTALL_PATH_VARIABLES))]
    for script in (get_script, install_script):
        assert query([["sha256_tools"]], script) == [(0, "\n".join(SHA256_TOOLS))]


def check_option_capabilities(get_script: Path) -> None:
    """scripts/get's copies of the capability words naming install script options (crio.artifacts)."""
    assert query([["option_capabilities"]], get_script) == \
        [(0, f"{' '.join(INSTALL_OPTION_CAPABILITIES)}\n{' '.join(OPTIONS_DECLARED_BY)}")]


def test_option_capability_words_match() -> None:
    check_option_capabilities(GET_SCRIPT)


TARBALL_NAMES = [
    "cri-o.amd64.v1.21.0.tar.gz", f"cri-o.arm64.{SHA}.tar.gz", "cri-o.x86_64.1.21.0.tar.gz",
    "cri-o.sparc.v1.21.0.tar.gz", "cri-o.amd64.v1.21.tar.gz", "cri-o.amd64.tar.gz", "cri-o..tar.gz",
    "cri-o.tar.gz", "crio.amd64.v1.21.0.tar.gz", "cri-o.amd64.v1.21.0.tgz", "cri-o.amd64.v1.21.0.tar.gz.sig",
    "cri-o.AMD64.V1.21.0.tar.gz", f"cri-o.{SHA}.tar.gz", "cri-o.amd64.v1.22.0-rc.1.tar.gz", "",
]


def check_tarball_names(get_script: Path) -> None:
    def python(name: str) -> str:
        arch, revision = parse_tarball_name(name)
        return f"{arch} {revision}"

    compare_outcomes([["parse_tarball_name", n] for n in TARBALL_NAMES],
                     [python_outcome(python, n) for n in TARBALL_NAMES], get_script)


MARKERS = [
    (b"v1.21.3\n", "latest-1.21.txt"), (b"  v1.21.3 \t\r\n", "latest-1.21.txt"), (b"v1.21.3\0\n", "latest-1.21.txt"),
    (SHA.upper().encode(), "latest-main.txt"), (b"", "latest-main.txt"), (b"\n \n", "latest-main.txt"),
    (b"<html>404</html>", "latest-main.txt"), (b"stable", "latest-main.txt"), (b"v1.22.0", "latest-1.21.txt"),
    (b"v1.210.0", "latest-1.21.txt"), (b"v1.21.3\nv1.21.4", "latest-1.21.txt"), (b"v" * 4097, "latest-main.txt"),
    (b"v1.21.0" + b" " * 4090, "latest-1.21.txt"), (SHA.encode(), "latest-release-1.21.txt"),
    (b"v1.22.0", "latest-main.txt"), (b"\x1fv1.21.0", "latest-1.21.txt"), (b"\xff\xfe", "latest-main.txt"),
    (SHA.encode(), "latest-bundle-main.txt"), (b"v1.36.3\n", "latest-bundle-main.txt"),
    (f" {SHA} \n".encode(), "latest-bundle-release-1.36.txt"), (b"v1.36.3\n", "latest-bundle-v1.36.3.txt"),
    (b"v1.36.2\n", "latest-bundle-v1.36.3.txt"), (SHA.encode(), "latest-bundle-v1.36.3.txt"),
    (b"v1.36.0-rc.1", "latest-bundle-v1.36.0-rc.1.txt"), (b"v1.36.0", "latest-bundle-v1.36.0-rc.1.txt"),
    (b"v1.36.3", "latest-bundle-v1.36.txt"), (b"<html>", "latest-bundle-main.txt"), (b"", "latest-bundle-main.txt"),
]
BUNDLE_MARKER_NAMES = ["latest-bundle-v1.36.3.txt", "latest-bundle-v1.36.0-rc.1.txt", "latest-bundle-1.36.3.txt",
                       "latest-bundle-main.txt", "latest-bundle-release-1.36.txt", "latest-bundle-v1.36.txt",
                       "latest-bundle-vgarbage.txt", "latest-bundle-v1.36.3", "latest-bundle-v.txt", "latest-1.36.txt",
                       "latest-bundle-V1.36.3.txt", f"latest-bundle-v{SHA}.txt"]


def check_markers(get_script: Path, tmp: Path) -> None:
    calls = []
    for index, (data, name) in enumerate(MARKERS):
        (tmp / f"marker{index}").write_bytes(data)
        calls.append(["read_marker", str(tmp / f"marker{index}"), name])
    compare_outcomes(calls, [python_outcome(lambda d, n: str(read_marker(d, n)), d, n) for d, n in MARKERS],
                     get_script)
    compare_outcomes([["bundle_marker_tag", n] for n in BUNDLE_MARKER_NAMES],
                     [(0, bundle_marker_tag(n) or "") for n in BUNDLE_MARKER_NAMES], get_script)


def _manifest(*files: dict[str, object]) -> str:
    return json.dumps({"schema": 1, "components": [], "files": list(files)}, indent=2)


MANIFESTS = [
    BundleManifest("v1.21.0", "1.21.0", "amd64", 0, [], [
        BundleFile("bin/crio", HEX, 3, "0755", "crio"), BundleFile("etc/crio.conf", "cd" * 32, 1, "0644", "b"),
    ]).to_json(),
    _manifest({"path": "cri-o/bin/a", "sha256": HEX.upper()}, {"path": "./etc/b", "sha256": HEX}),
    _manifest({"path": "bin/a", "sha256": HEX}, {"path": "manifest.json", "sha256": HEX}),
    _manifest({"path": "bin/a", "sha256": HEX}, {"path": "./manifest.json", "sha256": HEX}),
    _manifest({"path": "bin/a", "sha256": HEX}, {"path": "bin/a", "sha256": "cd" * 32}),
    _manifest({"path": "manifest.json", "sha256": HEX}),
    _manifest(),
    _manifest({"path": "bin/../../etc/passwd", "sha256": HEX}),
    _manifest({"path": "/etc/passwd", "sha256": HEX}),
    _manifest({"path": "bin/./a", "sha256": HEX}),
    _manifest({"path": "", "sha256": HEX}),
    _manifest({"path": "bin/a b", "sha256": HEX}),
    _manifest({"path": "bin/a", "sha256": HEX[:63]}),
    _manifest({"path": "bin/a", "sha256": HEX + "0"}),
    _manifest({"sha256": HEX}),
    _manifest({"path": 7, "sha256": HEX}),
    '{"components": []}',
    "not json",
]


def check_manifests(install_script: Path, tmp: Path) -> None:
    def python(text: str) -> str:
        listed = BundleManifest.from_json(text).sha256_by_path()
        return "\n".join(sorted(f"{path}\t{sha}" for path, sha in listed.items()))

    calls = []
    for index, text in enumerate(MANIFESTS):
        (tmp / f"manifest{index}.json").write_text(text)
        calls.append(["manifest_files", str(tmp / f"manifest{index}.json")])
    compare_outcomes(calls, [python_outcome(python, t) for t in MANIFESTS], install_script)


RECORDS = [
    f"/usr/local/bin/crio\t{HEX}\t0755\tfile\n/etc/crio\t-\t0755\tdir\n",
    f"#format\t1\n#revision\tv1.21.0\n#revision\tv9.9.9\n#Bad\tx\n#note\n# comment\n/a\t{HEX}\t0644\tconfig\n",
    f"/a\t{HEX}\t0644\tfile\n/a\t{'cd' * 32}\t0600\tconfig",
    f"/a\t{HEX}\t0644\tfile\t\n",
    f"/a\t\t{HEX}\t0644\tfile\n",
    f"/a\t{HEX}\t0644\n",
    f"/a\t{HEX}\tfile\n",
    f"relative\t{HEX}\t0644\tfile\n",
    f"/a\t{HEX}\t0644\tsocket\n",
    f"/a\t{HEX}\t0644\tfile\n\n/b\t-\t0755\tdir\n",
    "/a\t\t0644\tfile\n",
    "",
    f"/usr/local/bin/../../../victim\t{HEX}\t0644\tfile\n",
    f"/../victim\t{HEX}\t0644\tfile\n",
    f"/usr/./bin/crio\t{HEX}\t0755\tfile\n",
    f"/usr//bin/crio\t{HEX}\t0755\tfile\n",
    "/etc/crio/\t-\t0755\tdir\n",
    "/\t-\t0755\tdir\n",
    f"/etc/crio..d/x.conf\t{HEX}\t0644\tconfig\n/opt/a b/c\t{HEX}\t0644\tfile\n",
]
ROWS = [
    ["/usr/bin/crio", HEX, "0755", "file"], ["/etc/x", HEX, "0644", "config"], ["/etc", "-", "0755", "dir"],
    ["bin/crio", HEX, "0755", "file"], ["/a\tb", HEX, "0644", "file"], ["/a", HEX.upper(), "0644", "file"],
    ["/a", "-", "0644", "file"], ["/etc", HEX, "0755", "dir"], ["/a", HEX, "644", "file"],
    ["/a", HEX, "0644", "link"], ["/a", HEX, "0855", "file"],
    ["/usr/../victim", HEX, "0644", "file"], ["/usr/./bin", "-", "0755", "dir"], ["/usr//bin", "-", "0755", "dir"],
    ["/usr/bin/", "-", "0755", "dir"], ["/", "-", "0755", "dir"], ["/a..b/.c", HEX, "0644", "file"],
]

PATH_VARIABLE_CASES = [
    ("PREFIX", "/usr/local"), ("PREFIX", "/"), ("PREFIX", "/opt/c+r,i:o=~&-x_1.2"), ("PREFIX", "/../x"),
    ("PREFIX", "/opt/.."), ("BINDIR", "/usr/./bin"), ("BINDIR", "usr/bin"), ("BINDIR", ""), ("BINDIR", "/usr//bin"),
    ("BINDIR", "/usr/bin/"), ("BINDIR", "/opt/my dir/bin"), ("BINDIR", '/opt/a"b'), ("BINDIR", "/opt/a'b"),
    ("BINDIR", "/opt/a\\b"), ("BINDIR", "/opt/a%b"), ("BINDIR", "/opt/a$b"), ("BINDIR", "/opt/a@b@"),
    ("BINDIR", "/opt/a#b"), ("BINDIR", "/opt/a;b"), ("BINDIR", "/opt/a\nb"), ("BINDIR", "/opt/a\tb"),
    ("BINDIR", "/opt/a*b"), ("BINDIR", "/opt/\u00e9"), ("ETCDIR", "/etc/.hidden"), ("ETCDIR", "/etc/..."),
    ("STATEDIR", "/"), ("STATEDIR", "/var/lib/crio-install"), ("SYSTEMDDIR", "/etc/systemd/system"),
    ("DESTDIR", ""), ("DESTDIR", "/"), ("DESTDIR", "/tmp/dest dir & co"), ("DESTDIR", "/tmp/x/../y"),
    ("DESTDIR", "/tmp//x"), ("DESTDIR", "/tmp/x/"), ("DESTDIR", "tmp/x"), ("DESTDIR", "/tmp/a\nb"),
    ("DESTDIR", "/tmp/%$\"'"),
    ("LIBEXEC_CRIO_DIR", "/usr/libexec/crio"), ("LIBEXEC_CRIO_DIR", "/usr/libexec/crio/"),
    ("LIBEXEC_CRIO_DIR", "/usr/lib exec"), ("ETC_CRIO_DIR", "/etc/crio"), ("ETC_CRIO_DIR", "etc/crio"),
    ("ETC_CRIO_DIR", "/etc/../crio"), ("ETC_CRIO_DIR", "/etc/cr@io@"),
]


def check_path_variables(get_script: Path, install_script: Path) -> None:
    """Both scripts accept and refuse path variables as crio.paths.check_path_variable does."""
    calls = [["check_path_variable", name, value] for name, value in PATH_VARIABLE_CASES]
    expected = [python_outcome(check_path_variable, name, value) for name, value in PATH_VARIABLE_CASES]
    assert [code for code, _ in expected].count(0) == 13, "table is wrong"
    for script in (get_script, install_script):
        compare_outcomes(calls, expected, script)


def check_records(install_script: Path, tmp: Path) -> None:
    def python(text: str) -> str:
        record = parse_record(text)
        meta = sorted(f"#{key}\t{value}" for key, value in record.meta.items())
        rows = ["\t".join([r.path, r.sha256, r.mode, r.kind.value]) for r in rows_by_path(record).values()]
        return "\n".join(meta + rows)

    calls = []
    for index, text in enumerate(RECORDS):
        (tmp / f"record{index}.tsv").write_text(text)
        calls.append(["record_parse", str(tmp / f"record{index}.tsv")])
    compare_outcomes(calls, [python_outcome(python, t) for t in RECORDS], install_script)
    compare_outcomes([["record_row", *row] for row in ROWS], [python_outcome(format_row, *row) for row in ROWS],
                     install_script)


FILE_URLS = [
    "file:///a%5Cnb", "file:///a\\x41", "file:///a\\nb", "file://evil/x", "file://localhost/x", "file://LocalHost/x",
    "file:///a%2Fb", "file:///x?y#z", "file:///x#z", "file:///x?", "file:///a%00b", "file:///a%0a", "file:///a%0D",
    "file:///a%7f", "file:///a%1F", "file:///a%zz", "file:///a%", "file:///a%4", "file:///%25%32%35",
    "file:///%e2%82%ac", "file:///a%ff", "file:///caf\u00e9", "file://", "file:///", "file://localhost",
    "file:////srv//bucket/", "file:///a b", "file:///a%20b", "file:///a%25", "FILE:///x", "file:/x",
    "https://host/x", "file:///a\tb", "file://user@localhost/x", "file://localhost:80/x",
]
REDACT_URLS = [
    "https://user:pa@ss@host:8/p/a?X-Goog-Signature=abc#f", "https://user@host/x", "http://h/x#a?b",
    "http://h/x?a#b", "http://h", "http://h?q", "https://u@h?q", "plain text", "", "file:///a?b",
    "https://host/path/with@at", "gs://bucket/o?generation=1", "https://h/x/", "https://:@h/",
]
REDACT_TEXTS = [
    "downloading 'https://u:p@h/x?sig=1' and http://h/y?z (retry) ok",
    "marker latest-main.txt not found at https://admin:hunter2@mirror/b/latest-main.txt",
    "no url here", "two: http://a@b/c?d http://e/f#g.", 'quoted "https://u@h/p?q" <https://x@y/z>',
    "x [https://u@h/a?b] y", "ipv6 http://u:p@[::1]:8080/x?sig=1 end", "tab\thttp://a:b@c/d?e\tend",
]


def query_bytes(calls: list[list[str]], script: Path = GET_SCRIPT) -> list[tuple[int, bytes]]:
    """`query` for answers that may hold any byte (decoded file:// paths)."""
    payload = b"".join("\x1f".join(call).encode("utf-8", "surrogateescape") + b"\0" for call in calls)
    proc = subprocess.run(["bash", str(script), "--contract"], input=payload, capture_output=True, check=True)
    results = []
    for record in proc.stdout.split(b"\0")[:-1]:
        code, _, out = record.partition(b"\t")
        results.append((int(code), out))
    assert len(results) == len(calls)
    return results


def check_file_urls(get_script: Path) -> None:
    """scripts/get reads file:// URLs and shows URLs by crio.urls' rules, byte for byte."""
    def python(url: str) -> bytes | None:
        """The path as bytes, or None when refused (a usage error in both installers)."""
        path = python_or_none(file_url_path, url)
        return None if path is None else os.fsencode(path)

    mismatches = []
    calls = [["file_url_path", u] for u in FILE_URLS]
    for call, want, (code, out) in zip(calls, [python(u) for u in FILE_URLS], query_bytes(calls, get_script),
                                       strict=True):
        if (out if code == 0 else None) != want:
            mismatches.append(f"{call}: bash {out!r} (exit {code}), python {want!r}")
    assert not mismatches, "\n".join(mismatches)
    compare_outcomes([["redact_url", u] for u in REDACT_URLS], [(0, redact_url(u)) for u in REDACT_URLS],
                     get_script)
    compare_outcomes([["redact_text", t] for t in REDACT_TEXTS], [(0, redact(t)) for t in REDACT_TEXTS],
                     get_script)


def test_file_urls_and_redaction_follow_one_rule() -> None:
    accepted = [u for u in FILE_URLS if python_or_none(file_url_path, u) is not None]
    assert "file:///a\\x41" in accepted and "file://evil/x" not in accepted, "table is wrong"
    assert file_url_path("file:///a\\x41") == "/a\\x41" and file_url_path("file:///a%5Cnb") == "/a\\nb"
    check_file_urls(GET_SCRIPT)


def check_record_paths(get_script: Path, tmp: Path) -> None:
    """scripts/get refuses the records crio.record.check_row_paths refuses (its own check before any script)."""
    records = [*RECORDS, f"{HEX}\t/x\n", "/a\n/b/../c\tx\n", "#/../x\n\n/ok\n", "/ok\n/../x"]
    calls = []
    for index, text in enumerate(records):
        (tmp / f"paths{index}.tsv").write_text(text)
        calls.append(["record_check", str(tmp / f"paths{index}.tsv")])
    def python(text: str) -> str:
        check_row_paths(text)
        return ""

    expected = [python_outcome(python, t) for t in records]
    assert [code for code, _ in expected].count(0) == 13, f"table is wrong: {expected}"
    compare_outcomes(calls, expected, get_script)


HEX2 = "cd" * 32
#: Transactions (files of a transaction dir; {D} is DESTDIR, {S} the state dir) and whether to replay.
TRANSACTIONS: list[tuple[dict[str, str], bool]] = [
    ({"journal": "saved\t1\t{D}/usr/bin/crio\nabsent\t0\t{D}/usr/bin/new\nnewdir\t0\t{D}/opt/x\n",
      "backup/1": "old", "statedirs": "{S}\n{D}/var/lib\n", "statefiles": "\n{S}/record.tsv\n"}, True),
    ({"journal": "saved\t1\t{D}/usr/bin/crio\n", "backup/1": "old"}, False),
    ({"journal": "absent\t0\t{D}/usr/bin/../../../victim\n"}, True),
    ({"journal": "absent\t0\t{D}/../victim\n"}, True),
    ({"journal": "absent\t0\t/victim\n"}, True),
    ({"journal": "absent\t0\t{D}\n"}, True),
    ({"journal": "absent\t0\t{D}/usr//x\n"}, True),
    ({"journal": "absent\t0\t{D}/usr/./x\n"}, True),
    ({"journal": "absent\t0\trelative\n"}, True),
    ({"journal": "saved\t../../x\t{D}/usr/bin/crio\n"}, True),
    ({"journal": "saved\t01\t{D}/usr/bin/crio\n", "backup/01": "old"}, True),
    ({"journal": "saved\t../statedirs\t{D}/usr/bin/crio\n", "statedirs": ""}, True),
    ({"journal": "saved\t2\t{D}/usr/bin/crio\n", "backup/1": "old"}, True),
    ({"journal": "saved\t1\t{D}/usr/bin/crio\n", "backup/1/x": "a dir"}, True),
    ({"journal": "absent\t1\t{D}/usr/bin/crio\n"}, True),
    ({"journal": "removed\t0\t{D}/usr/bin/crio\n"}, True),
    ({"journal": "absent\t0\t{D}/usr/bin/crio\textra\n"}, True),
    ({"journal": "absent\t0\t{D}/usr/bin/crio"}, True),
    ({"journal": "absent\t0\t{D}/usr/bin/crio\n\n"}, True),
    ({"journal": "absent\t0\t{D}/usr/bin/c\0rio\n"}, True),
    ({"journal": "absent\t0\t{D}/link/escape\n"}, True),
    ({"journal": "absent\t0\t{D}/../victim\n", "statedirs": "{S}\n"}, False),
    ({"statedirs": "/tmp\n"}, False),
    ({"statedirs": "{D}/usr\n"}, False),
    ({"statedirs": "{D}\n"}, False),
    ({"statefiles": "/etc/passwd\n", "journal": ""}, True),
    ({"statefiles": "{S}/../x\n"}, True),
]


def check_journals(get_script: Path, tmp: Path) -> None:
    """scripts/get's txn_check reads (or refuses) each transaction as crio_installer.journal.check does."""
    def python(txn: Path, destdir: str, replay: bool) -> str:
        checked = journal.check(txn, destdir, Path(destdir + "/var/lib/crio-install"), replay)
        lines = [f"{e.kind}\t{e.index}\t{e.path}" for e in checked.entries]
        lines += [f"statedir\t{d}" for d in checked.statedirs]
        return "\n".join([*lines, f"statefiles\t{'no' if checked.statefiles is None else 'yes'}"])

    calls, expected = [], []
    for index, (files, replay) in enumerate(TRANSACTIONS):
        dest = tmp / f"journal{index}" / "dest"
        state = dest / "var/lib/crio-install"
        txn = state / "transaction"
        (txn / "backup").mkdir(parents=True)
        (dest / "link").symlink_to(tmp)
        for name, text in files.items():
            (txn / name).parent.mkdir(parents=True, exist_ok=True)
            (txn / name).write_text(text.replace("{D}", str(dest)).replace("{S}", str(state)))
        calls.append(["txn_check", str(txn), str(dest), "yes" if replay else "no"])
        expected.append(python_outcome(python, txn, str(dest), replay))
    assert [code for code, _ in expected].count(0) == 3, f"table is wrong: {expected}"
    compare_outcomes(calls, expected, get_script)


def test_record_row_paths_are_checked_by_the_installer_by_one_rule(tmp_path: Path) -> None:
    check_record_paths(GET_SCRIPT, tmp_path)


def test_path_variables_are_checked_by_one_rule() -> None:
    check_path_variables(GET_SCRIPT, INSTALL_SCRIPT)


def test_transaction_journals_are_checked_by_one_rule(tmp_path: Path) -> None:
    check_journals(GET_SCRIPT, tmp_path)


def test_exit_codes_and_help_match_crio_errors() -> None:
    check_exit_codes(GET_SCRIPT, INSTALL_SCRIPT)


def test_crio_get_help_is_generated_from_the_table() -> None:
    out = subprocess.run([str(CRIO_GET), "--help"], capture_output=True, text=True, check=True).stdout
    # click indents the epilog by two more spaces
    assert "\n".join(f"  {line}" for line in exit_code_help(INSTALLER_CODES).splitlines()) in out


def test_install_variables_and_hash_tools_match() -> None:
    check_install_variables(GET_SCRIPT, INSTALL_SCRIPT)


def test_local_tarball_names_match() -> None:
    check_tarball_names(GET_SCRIPT)


def test_markers_are_read_by_one_rule(tmp_path: Path) -> None:
    check_markers(GET_SCRIPT, tmp_path)


def test_bundle_manifest_is_read_by_one_rule(tmp_path: Path) -> None:
    check_manifests(INSTALL_SCRIPT, tmp_path)


def test_record_rows_are_read_and_written_by_one_rule(tmp_path: Path) -> None:
    check_records(INSTALL_SCRIPT, tmp_path)


def test_install_script_shellcheck_clean() -> None:
    proc = subprocess.run(["shellcheck", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


# Each change makes one bash copy differ from crio/ the way a hand edit would.
MUTATIONS = [
    ("install", "EXIT_VERIFICATION=6", "EXIT_VERIFICATION=5", "exit_codes"),
    ("install", "  8 a required tool is missing", "  8 missing tool", "exit_codes"),
    ("get", "  ${EXIT_RESOLUTION} resolution (", "  ${EXIT_RESOLUTION} resolution failed (", "exit_codes"),
    ("install", "SYSCONFIGDIR STATEDIR)", "STATEDIR SYSCONFIGDIR)", "variables"),
    ("install", "LIBEXECDIR LIBEXEC_CRIO_DIR ETC_CRIO_DIR CONTAINERS_DIR", "LIBEXECDIR CONTAINERS_DIR", "variables"),
    ("get", "LIBEXEC_CRIO_DIR ETC_CRIO_DIR CONTAINERS_DIR", "LIBEXEC_CRIO_DIR CONTAINERS_DIR", "variables"),
    ("get", "readonly SHA256_TOOLS=(openssl sha256sum shasum)", "readonly SHA256_TOOLS=(sha256sum openssl shasum)",
     "variables"),
    ("get", 'arch_text="${middle%%.*}"', 'arch_text="${middle%.*}"', "tarball_names"),
    ("get", "readonly MAX_MARKER_BYTES=4096", "readonly MAX_MARKER_BYTES=8192", "markers"),
    ("get", "\"$MAIN_MARKER\" | latest-release-* | \"$BUNDLE", "\"$MAIN_MARKER\" | \"$BUNDLE", "markers"),
    ("install", "readonly PATH_CHARS_RE='^[A-Za-z0-9._+@%=,:~/-]+$'", "readonly PATH_CHARS_RE='^.+$'", "manifests"),
    ("install", "        path=${path#./}\n", "", "manifests"),
    ("install", "[[ $mode =~ ^0[0-7]{3}$ ]]", "[[ $mode =~ ^[0-7]{3,4}$ ]]", "records"),
    ("install", '[ "${#tabs}" -ne 3 ]', '[ "${#tabs}" -gt 3 ]', "records"),
    ("get", 'out="/$out$path"', 'out="$(printf \'%b\' "/$out$path")"', "file_urls"),
    ("get", "case \"${host,,}\" in '' | localhost) ;;", "case \"${host,,}\" in *) ;;", "file_urls"),
    ("get", "case \"$path\" in *'?'* | *'#'*) return 1 ;; esac", "path=\"${path%%[?#]*}\"", "file_urls"),
    ("get", 'case "$authority" in *@*) authority="***@${authority##*@}" ;; esac', "", "file_urls"),
    ("install", "        */../*) WHY=\"a '..' component\" ;;\n", "", "records"),
    ("install", "readonly PATH_VAR_CHARS='A-Za-z0-9._+,:=~&-'", "readonly PATH_VAR_CHARS='A-Za-z0-9._+,:=~&%-'",
     "path_variables"),
    ("get", "readonly PATH_VAR_CHARS='A-Za-z0-9._+,:=~&-'", "readonly PATH_VAR_CHARS='A-Za-z0-9._+,:=~& -'",
     "path_variables"),
    ("get", '[ "$value" != / ] || value=""\n        [ -z "$value" ] || path_why', '[ -z "$value" ] || path_why',
     "path_variables"),
    ("get", "        */./*) WHY=\"a '.' component\" ;;\n", "", "journals"),
    ("get", '[[ "$index" =~ ^[1-9][0-9]{0,8}$ ]]', '[[ "$index" =~ ^[0-9.\\/]+$ ]]', "journals"),
    ("get", 'if [ "$parent" != "$root" ] && [ "$root" != / ]; then', 'if false; then', "journals"),
    ("get", "    [ \"$replay\" = yes ] || return 0\n    if txn_lines", "    if txn_lines", "journals"),
    ("get", "-m | --mirror | --url) need_value", "-m | --mirror) need_value", "options"),
    ("get", "latest-release-* | \"$BUNDLE_MARKER_PREFIX\"*) return 0", "latest-release-*) return 0", "markers"),
    ("get", '[ -z "$own_tag" ] || [ "$rev" = "$own_tag" ] ||', '[ -z "$own_tag" ] || [ -n "$rev" ] ||', "markers"),
    ("get", 'case "$1" in "${BUNDLE_MARKER_PREFIX}v"*.txt)', 'case "$1" in "${BUNDLE_MARKER_PREFIX}"*.txt)', "markers"),
    ("get", 'echo "$BUNDLE_MAIN_MARKER $MAIN_MARKER"', 'echo "$MAIN_MARKER $BUNDLE_MAIN_MARKER"', "requests"),
    ("get", 'latest-release-${series}.txt"\n', '-"\n', "requests"),
    ("get", 'echo "latest-${series}.txt -"', 'echo "latest-${series}.txt $MAIN_MARKER"', "requests"),
    ("get", 'parse_minor_series "${1#"$RELEASE_BRANCH_PREFIX"}")" || return 1',
     'printf %s "${1#"$RELEASE_BRANCH_PREFIX"}")" || return 1', "requests"),
    ("get", '    case "$1" in "$RELEASE_BRANCH_PREFIX"*) return 0 ;; esac\n    parse_minor_series',
     '    parse_minor_series', "requests"),
    ("get", "-u | -U | --uninstall) DO_UNINSTALL", "-U | --uninstall) DO_UNINSTALL", "options"),
    ("get", "  -m, --mirror URL       base URL", "  -m URL                 base URL", "options"),
    ("get", 'readonly OPTIONS_DECLARED_BY=("$CAPABILITY_MOVE_SOURCES" "$CAPABILITY_FILE_SUMS")',
     'readonly OPTIONS_DECLARED_BY=("$CAPABILITY_MOVE_SOURCES")', "option_capabilities"),
    ("get", 'CAPABILITY_FILE_SUMS="file-sums"', 'CAPABILITY_FILE_SUMS="file-sum"', "option_capabilities"),
]


def test_a_changed_copy_fails_the_contract(tmp_path: Path) -> None:
    checks = {
        "exit_codes": lambda get, install: check_exit_codes(get, install),
        "variables": lambda get, install: check_install_variables(get, install),
        "tarball_names": lambda get, _install: check_tarball_names(get),
        "markers": lambda get, _install: check_markers(get, tmp_path),
        "manifests": lambda _get, install: check_manifests(install, tmp_path),
        "records": lambda _get, install: check_records(install, tmp_path),
        "file_urls": lambda get, _install: check_file_urls(get),
        "path_variables": lambda get, install: check_path_variables(get, install),
        "journals": lambda get, _install: check_journals(get, tmp_path / f"j{len(list(tmp_path.iterdir()))}"),
        "options": lambda get, _install: check_options(get),
        "requests": lambda get, _install: check_request_markers(get),
        "option_capabilities": lambda get, _install: check_option_capabilities(get),
    }
    for check in checks.values():
        check(GET_SCRIPT, INSTALL_SCRIPT)           # the originals pass ...
    survived = []
    for index, (which, old, new, check) in enumerate(MUTATIONS):
        get, install = tmp_path / f"get{index}", tmp_path / f"install{index}"
        get.write_text(GET_SCRIPT.read_text())
        install.write_text(INSTALL_SCRIPT.read_text())
        target = get if which == "get" else install
        text = target.read_text()
        assert text.count(old) == 1, f"mutation {index} no longer applies: {old!r}"
        target.write_text(text.replace(old, new))
        try:
            checks[check](get, install)              # ... and the changed copy must not
        except AssertionError:
            continue
        survived.append(f"{which}: {old!r} -> {new!r}")
    assert not survived, "changed copies the contract test did not catch:\n" + "\n".join(survived)


# --- binding and downgrades: scripts/get's copies of crio/binding.py, signed_marker.py, downgrade.py ---------

def _revision_manifest(revision: str = "v1.21.0", epoch: int | None = 1_700_000_000,
                       archs: tuple[str, ...] = ("amd64", "arm64")) -> RevisionManifest:
    files = [FileEntry(name, arch, role, 1000 + index, f"{index:02x}" * 32)
             for arch in archs for index, (role, name) in enumerate(arch_files(arch, revision).items())]
    return RevisionManifest(revision, "1.21.0", list(archs), files, epoch)


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _revision_manifests() -> list[tuple[str, bytes, str, str]]:
    """(case, bytes, requested revision, requested arch): the builder's layout and what a mirror might serve."""
    good = _revision_manifest().to_json()
    data = json.loads(good)
    tarball = tarball_name("amd64", "v1.21.0")

    def dumped(value: object, **kwargs: object) -> str:
        return json.dumps(value, **kwargs) + "\n"  # type: ignore[arg-type]

    def changed(**top: object) -> str:
        return dumped({**data, **top}, indent=2, sort_keys=True)

    def file_changed(**entry: object) -> str:
        files = [dict(f, **entry) if f["name"] == tarball else f for f in data["files"]]
        return changed(files=files)

    cases = [
        ("builder", good, "v1.21.0", "amd64"),
        ("builder-arm64", good, "v1.21.0", "arm64"),
        ("no-build-time", _revision_manifest(epoch=None).to_json(), "v1.21.0", "amd64"),
        ("commit", _revision_manifest(SHA).to_json(), SHA, "amd64"),
        ("other-revision-requested", good, "v1.21.1", "amd64"),
        ("arch-not-listed", good, "v1.21.0", "s390x"),
        ("arch-listed-without-files", _revision_manifest(archs=("amd64",)).to_json().replace(
            '"amd64"\n  ]', '"amd64",\n    "ppc64le"\n  ]'), "v1.21.0", "ppc64le"),
        ("role-swapped", file_changed(role="sbom"), "v1.21.0", "amd64"),
        ("arch-swapped", file_changed(arch="arm64"), "v1.21.0", "amd64"),
        ("sha-upper", file_changed(sha256=HEX.upper()), "v1.21.0", "amd64"),
        ("sha-short", file_changed(sha256=HEX[:63]), "v1.21.0", "amd64"),
        ("size-string", file_changed(size="12"), "v1.21.0", "amd64"),
        ("size-negative", file_changed(size=-1), "v1.21.0", "amd64"),
        ("size-bool", file_changed(size=True), "v1.21.0", "amd64"),
        ("size-float", file_changed(size=1.5), "v1.21.0", "amd64"),
        ("extra-file-key", file_changed(note="x"), "v1.21.0", "amd64"),
        ("extra-top-key", changed(note="x"), "v1.21.0", "amd64"),
        ("schema-2", changed(schema=2), "v1.21.0", "amd64"),
        ("schema-true", changed(schema=True), "v1.21.0", "amd64"),
        ("epoch-max", changed(source_date_epoch=10**15 - 1), "v1.21.0", "amd64"),
        ("epoch-too-big", changed(source_date_epoch=10**15), "v1.21.0", "amd64"),
        ("epoch-null", changed(source_date_epoch=None), "v1.21.0", "amd64"),
        ("epoch-string", changed(source_date_epoch="1"), "v1.21.0", "amd64"),
        ("version-space", changed(version="1.21 .0"), "v1.21.0", "amd64"),
        ("revision-unprefixed", changed(revision="1.21.0"), "v1.21.0", "amd64"),
        ("no-architectures", changed(architectures=[]), "v1.21.0", "amd64"),
        ("no-files", changed(files=[]), "v1.21.0", "amd64"),
        ("duplicate-entry", changed(files=sorted(data["files"] + [data["files"][0]], key=lambda f: f["name"])),
         "v1.21.0", "amd64"),
        ("unsorted-files", changed(files=list(reversed(data["files"]))), "v1.21.0", "amd64"),
        ("indent-4", dumped(data, indent=4, sort_keys=True), "v1.21.0", "amd64"),
        ("compact", dumped(data, sort_keys=True), "v1.21.0", "amd64"),
        ("unsorted-keys", dumped(dict(reversed(list(data.items()))), indent=2), "v1.21.0", "amd64"),
        ("duplicate-revision-key", _edit(good, '"version": "1.21.0"\n',
                                         '"version": "1.21.0",\n  "revision": "v9.9.9"\n'), "v1.21.0", "amd64"),
        ("escaped-string", _edit(good, '"revision": "v1.21.0"', '"revision": "\\u00761.21.0"'), "v1.21.0", "amd64"),
        ("crlf", good.replace("\n", "\r\n"), "v1.21.0", "amd64"),
        ("no-final-newline", good.rstrip("\n"), "v1.21.0", "amd64"),
        ("trailing-data", good + "{}\n", "v1.21.0", "amd64"),
        ("trailing-blank-line", good + "\n", "v1.21.0", "amd64"),
        ("nul", _edit(good, '"v1.21.0"', '"v1.2\x001.0"'), "v1.21.0", "amd64"),
        ("latin1", _edit(good, '"1.21.0"', '"1.21.0\xe9"'), "v1.21.0", "amd64"),
        ("array", "[]\n", "v1.21.0", "amd64"),
        ("not-json", "not json\n", "v1.21.0", "amd64"),
        ("empty", "", "v1.21.0", "amd64"),
    ]
    out = [(case, text.encode("latin-1"), rev, arch) for case, text, rev, arch in cases]
    out.append(("huge", b" " * (MAX_MANIFEST_BYTES + 1), "v1.21.0", "amd64"))
    return out


REVISION_MANIFESTS = _revision_manifests()


def check_revision_manifests(get_script: Path, tmp: Path) -> None:
    calls, expected = [], []
    for case, data, rev, arch in REVISION_MANIFESTS:
        (tmp / f"{case}.json").write_bytes(data)
        calls.append(["tarball_binding", str(tmp / f"{case}.json"), rev, arch])
        expected.append(python_outcome(lambda d, r, a: read_tarball_binding(d, r, a).contract_text(), data, rev, arch))
    accepted = {case for (case, *_), (code, _) in zip(REVISION_MANIFESTS, expected, strict=True) if code == 0}
    assert accepted == {"builder", "builder-arm64", "no-build-time", "commit", "epoch-max"}, "the table is wrong"
    compare_outcomes(calls, expected, get_script)


def _bundle_manifests() -> list[tuple[str, bytes]]:
    good = BundleManifest("v1.21.0", "1.21.0", "amd64", 0, [], [BundleFile("bin/crio", HEX)]).to_json()
    nested = json.dumps({"components": [{"arch": "arm64", "revision": "v9.9.9"}], "files": []}, indent=2)
    cases = [
        ("builder", good),
        ("files-only", _manifest({"path": "bin/a", "sha256": HEX})),
        ("nested-keys-only", nested),
        ("arch-only", '{\n  "arch": "amd64",\n  "files": []\n}\n'),
        ("last-key-no-comma", '{\n  "files": [],\n  "arch": "amd64"\n}'),
        ("two-arch-lines", _edit(good, '  "arch": "amd64",\n', '  "arch": "amd64",\n  "arch": "arm64",\n')),
        ("bad-characters", _edit(good, '"arch": "amd64"', '"arch": "amd64 x"')),
        ("no-space", _edit(good, '"arch": "amd64"', '"arch":"amd64"')),
        ("crlf", good.replace("\n", "\r\n")),
        ("nul", _edit(good, '"amd64"', '"amd\x0064"')),
        ("compact", json.dumps(json.loads(good))),
        ("empty", ""),
    ]
    return [(case, text.encode()) for case, text in cases]


BUNDLE_IDENTITIES = _bundle_manifests()


def check_bundle_identities(get_script: Path, tmp: Path) -> None:
    def python(data: bytes) -> str:
        return " ".join(v or "-" for v in bundle_identity(data))

    calls = []
    for case, data in BUNDLE_IDENTITIES:
        (tmp / f"bundle-{case}.json").write_bytes(data)
        calls.append(["bundle_identity", str(tmp / f"bundle-{case}.json")])
    expected = [python_outcome(python, data) for _, data in BUNDLE_IDENTITIES]
    assert expected[0] == (0, "v1.21.0 amd64") and expected[1] == (0, "- -"), "the table is wrong"
    compare_outcomes(calls, expected, get_script)


def _marker_signatures() -> list[tuple[str, bytes]]:
    private, _ = generate_keypair()
    good = sign_marker(MarkerStatement("latest-1.21.txt", "v1.21.3", 1_767_225_600), private)
    commit = sign_marker(MarkerStatement("latest-main.txt", SHA, 0), private)
    text = good.decode()
    cases = [
        ("good", good), ("commit", commit),
        ("upper-sha", commit.replace(SHA.encode(), SHA.upper().encode())),
        ("unprefixed", good.replace(b"revision v1.21.3", b"revision 1.21.3")),
        ("four-lines", good.rsplit(b"signature", 1)[0]),
        ("six-lines", good + b"note x\n"),
        ("no-final-newline", good.rstrip(b"\n")),
        ("header-2", good.replace(b"crio-marker 1", b"crio-marker 2")),
        ("marker-path", good.replace(b"marker latest-1.21.txt", b"marker ../latest-1.21.txt")),
        ("marker-sig-name", good.replace(b"marker latest-1.21.txt", b"marker latest-1.21.txt.sig")),
        ("leading-zero", good.replace(b"published 1767225600", b"published 01767225600")),
        ("sixteen-digits", good.replace(b"published 1767225600", b"published 1767225600000000")),
        ("bad-signature-chars", good.replace(b"signature ", b"signature *")),
        ("crlf", text.replace("\n", "\r\n").encode()),
        ("trailing-space", good.replace(b"revision v1.21.3", b"revision v1.21.3 ")),
        ("nul", good.replace(b"marker latest", b"marker \x00latest")),
        ("latin1", good.replace(b"revision v1.21.3", b"revision v1.21.3\xe9")),
        ("huge", good[:-1] + b"=" * 4096 + b"\n"),
        ("empty", b""),
    ]
    return cases


MARKER_SIGNATURES = _marker_signatures()


def check_marker_signatures(get_script: Path, tmp: Path) -> None:
    calls = []
    for case, data in MARKER_SIGNATURES:
        (tmp / f"marker-{case}.sig").write_bytes(data)
        calls.append(["marker_statement", str(tmp / f"marker-{case}.sig")])
    expected = [python_outcome(lambda d: parse_marker_signature(d)[0].contract_text(), d) for _, d in MARKER_SIGNATURES]
    assert [c for (c, _), (code, _) in zip(MARKER_SIGNATURES, expected, strict=True) if code == 0] == \
        ["good", "commit"], "the table is wrong"
    compare_outcomes(calls, expected, get_script)


META = f"#revision\tv1.21.0\n#arch\tamd64\n#channel\tlatest-1.21.txt\n#build-time\t1700000000\n" \
       f"#marker-published\t1767225600\n/usr/bin/crio\t{HEX}\t0755\tfile\n"
RECORD_HEADS = [
    ("full", META.encode()),
    ("commit-named", f"#revision\t{SHA}\n#channel\t-t\n#build-time\t0\n".encode()),
    ("local-file", b"#revision\tv1.22.0-rc.1\n#channel\t-f\n"),
    ("none", f"/usr/bin/crio\t{HEX}\t0755\tfile\n".encode()),
    ("non-canonical", b"#revision\t1.21.0\n#build-time\t012\n#channel\tevil\n#marker-published\t1e3\n"),
    ("upper-sha", f"#revision\t{SHA.upper()}\n".encode()),
    ("too-long-time", b"#build-time\t1234567890123456\n#marker-published\t123456789012345\n"),
    ("first-wins", b"#revision\tv1.21.0\n#revision\tv9.9.9\n"),
    ("invalid-first-wins", b"#revision\tv1.21\n#revision\tv9.9.9\n"),
    ("after-rows", f"/a\t{HEX}\t0644\tfile\n#revision\tv1.21.0\n".encode()),
    ("no-tab-then-meta", b"#comment\n#Revision\tv1\n#revision\tv1.21.0\n"),
    ("last-line-open", b"#channel\t-t\n#revision\tv1.21.0"),
    ("nul", b"#revision\tv1.21.0\x00\n#channel\t-t\x00\n"),
    ("nul-key", b"#revi\x00sion\tv1.21.0\n"),
    ("crlf", b"#revision\tv1.21.0\r\n#channel\t-t\n"),
    ("latin1", b"#revision\tv1.21.0\xe9\n#channel\tlatest-1.21.txt\n"),
    ("beyond-head", b"#pad\t" + b"x" * 70000 + b"\n#revision\tv1.21.0\n"),
    ("empty", b""),
]


def check_installed_states(get_script: Path, tmp: Path) -> None:
    calls, expected = [], []
    for case, data in RECORD_HEADS:
        (tmp / case).mkdir()
        (tmp / case / INSTALL_RECORD).write_bytes(data)
        calls.append(["installed_state", str(tmp / case / INSTALL_RECORD)])
        expected.append((0, installed_state_at(tmp / case).contract_text()))
    for case, make in (("absent", lambda p: None), ("directory", lambda p: p.mkdir()), ("fifo", os.mkfifo),
                       ("link", lambda p: p.symlink_to(tmp / "full" / INSTALL_RECORD))):
        (tmp / case).mkdir()
        make(tmp / case / INSTALL_RECORD)
        calls.append(["installed_state", str(tmp / case / INSTALL_RECORD)])
        expected.append((0, installed_state_at(tmp / case).contract_text()))
    assert expected[0] == (0, "v1.21.0 1700000000 latest-1.21.txt 1767225600"), "the table is wrong"
    assert expected[-1] == expected[-2] == (0, "- - - -"), "a FIFO or a link was read"
    compare_outcomes(calls, expected, get_script)


ORDER_TAGS = sorted({str(parse_revision(r)) for r in GOOD_REVISIONS if r.lower() != SHA})
OTHER_SHA = "f" * 40


def check_revision_orders(get_script: Path) -> None:
    pairs = [(a, b) for a in ORDER_TAGS for b in ORDER_TAGS]
    calls = [["version_cmp", a, b] for a, b in pairs]
    expected = [(0, str((Version.parse(a) > Version.parse(b)) - (Version.parse(a) < Version.parse(b))))
                for a, b in pairs]
    orders = [(None, None, "v1.21.0", None), ("v1.21.0", None, "v1.21.0", 5), ("v1.21.1", 9, "v1.21.0", 10),
              ("v1.21.0", 10, "v1.21.0-rc.1", None), (SHA, 10, OTHER_SHA, 9), (SHA, 10, OTHER_SHA, 11),
              (SHA, 10, OTHER_SHA, 10), (SHA, None, OTHER_SHA, 9), (SHA, 10, OTHER_SHA, None),
              ("v1.21.0", 10, SHA, 9), (SHA, 10, "v1.21.0", 11), (SHA, 999_999_999_999_999, OTHER_SHA, 0)]
    calls += [["revision_order", *("-" if v is None else str(v) for v in order)] for order in orders]
    expected += [(0, revision_order(*order)) for order in orders]
    compare_outcomes(calls, expected, get_script)
    assert [revision_order(*o) for o in orders[:5]] == ["none", "same", "older", "older", "older"], "table is wrong"


def test_names_of_revision_manifests_and_marker_signatures_match() -> None:
    compare([["manifest_name", r] for r in GOOD_REVISIONS + BAD_REVISIONS],
            [python_or_none(manifest_name, r) for r in GOOD_REVISIONS + BAD_REVISIONS])
    markers = [MAIN_MARKER, "latest-1.21.txt", "latest-release-1.21.txt"]
    compare([["marker_signature_name", m] for m in markers], [marker_signature_name(m) for m in markers])


def test_revision_manifests_are_read_by_one_rule(tmp_path: Path) -> None:
    check_revision_manifests(GET_SCRIPT, tmp_path)


def test_bundle_identity_is_read_by_one_rule(tmp_path: Path) -> None:
    check_bundle_identities(GET_SCRIPT, tmp_path)


def test_marker_signatures_are_read_by_one_rule(tmp_path: Path) -> None:
    check_marker_signatures(GET_SCRIPT, tmp_path)


def test_record_metadata_is_read_by_one_rule(tmp_path: Path) -> None:
    check_installed_states(GET_SCRIPT, tmp_path)


def test_revisions_are_ordered_by_one_rule() -> None:
    check_revision_orders(GET_SCRIPT)


BINDING_MUTATIONS = [
    ("'^  \"schema\": 1,$'", "'^  \"schema\": [0-9]+,$'", "revision_manifests"),
    ('[[ -z "$prev" || "$prev" < "$e_name" ]]', '[[ -z "$prev" || "$prev" != "$e_name" ]]', "revision_manifests"),
    (' && [ -z "$(tail -c 1 "$1")" ]', "", "revision_manifests"),
    ('$MANIFEST_STRING\\",?$ ]]', '$MANIFEST_STRING\\",$ ]]', "bundle_identities"),
    ("'^published (0|[1-9][0-9]{0,14})$'", "'^published ([0-9]+)$'", "marker_signatures"),
    ("[ \"$rev\" = \"$MS_REVISION\" ] ||", "[ -n \"$rev\" ] ||", "marker_signatures"),
    ("readonly TIME_RE='^(0|[1-9][0-9]{0,14})$'", "readonly TIME_RE='^[0-9]+$'", "installed_states"),
    ('[ -f "$file" ] && [ ! -L "$file" ] || return 0', '[ -f "$file" ] || return 0', "installed_states"),
    ("    elif [[ \"$1\" =~ ^[0-9]+$ ]]; then\n        echo -1", "    elif [[ \"$1\" =~ ^[0-9]+$ ]]; then\n        echo 1",
     "revision_orders"),
    ('[ "$old_time" -eq "$new_time" ]', '[ "$old_time" -lt 0 ]', "revision_orders"),
]


def test_a_changed_binding_copy_fails_the_contract(tmp_path: Path) -> None:
    checks = {
        "revision_manifests": lambda get, tmp: check_revision_manifests(get, tmp),
        "bundle_identities": lambda get, tmp: check_bundle_identities(get, tmp),
        "marker_signatures": lambda get, tmp: check_marker_signatures(get, tmp),
        "installed_states": lambda get, tmp: check_installed_states(get, tmp),
        "revision_orders": lambda get, _tmp: check_revision_orders(get),
    }
    survived = []
    for index, (old, new, check) in enumerate(BINDING_MUTATIONS):
        get = tmp_path / f"get{index}"
        text = GET_SCRIPT.read_text()
        assert text.count(old) == 1, f"mutation {index} no longer applies: {old!r}"
        get.write_text(text.replace(old, new))
        work = tmp_path / f"work{index}"
        work.mkdir()
        try:
            checks[check](get, work)
        except AssertionError:
            continue
        survived.append(f"{old!r} -> {new!r}")
    assert not survived, "changed copies the contract test did not catch:\n" + "\n".join(survived)
