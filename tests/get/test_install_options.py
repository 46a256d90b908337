"""Which options the installers pass to a bundle's install script: from its capabilities line when the line
lists them (the script's --help is then never run), from its --help for an older script of ours.

The bundles carry the real install script with one line added at the top of its `main`: it appends its
arguments to the file named by CRIO_TEST_INSTALL_LOG, so every run of the script (--help, --list, the
install) is seen, and a --help run is caught even though it changes nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from crio_installer.script_options import HELP_TEXT, capabilities, offered
from helpers.bundle_install import BUNDLE_FILES, make_bundle_tree, write_manifest
from helpers.get_fixtures import (
    GET_SCRIPT,
    INSTALLERS,
    lay_out_bucket,
    run_get,
    write_side_files,
    write_tarball,
)

from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    INSTALL_OPTION_CAPABILITIES,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    OPTIONS_DECLARED_BY,
    tarball_name,
)
from crio.record import parse_record

STATE = INSTALL_STATE_DIR.lstrip("/")
OURS_LINE = "# crio-install-capabilities: list uninstall record-meta verified-tarball move-sources file-sums plan-fd"
#: The line of the scripts released before the option words: --help says what else they offer.
OLDER_LINE = "# crio-install-capabilities: list uninstall record-meta verified-tarball"
#: A line naming an option word but not record-meta: the line is believed, the revision is not recorded.
NO_META_LINE = "# crio-install-capabilities: list uninstall move-sources"
NEW, OLDER, NO_META = "v1.23.0", "v1.23.1", "v1.23.2"
LOG_LINE = 'printf \'%s\\n\' "$*" >>"${CRIO_TEST_INSTALL_LOG:?}"\n'


def logging_script(line: str) -> str:
    """The real install script with capabilities line `line`, logging each run's arguments."""
    text = (BUNDLE_FILES / BUNDLE_INSTALL_SCRIPT).read_text()
    assert text.splitlines()[1] == OURS_LINE, "the shipped line changed: update OURS_LINE"
    head, rest = text.split("\n", 2)[:2], text.split("\n", 2)[2]
    assert rest.count("\nmain() {\n") == 1
    return "\n".join([head[0], line, rest.replace("\nmain() {\n", "\nmain() {\n    " + LOG_LINE)])


def write_logging_bundle(directory: Path, revision: str, line: str, work: Path) -> Path:
    src = make_bundle_tree(work, {f"bin/{n}": f"{n} {revision}\n".encode() for n in ("crio", "pinns")},
                           via_tar=False)
    (src / BUNDLE_INSTALL_SCRIPT).write_text(logging_script(line))
    write_manifest(src)
    members = {p.relative_to(src).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
               for p in sorted(src.rglob("*")) if p.is_file()}
    directory.mkdir(parents=True, exist_ok=True)
    tarball = write_tarball(directory / tarball_name("amd64", revision), members)
    write_side_files(tarball)
    return tarball


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("options-bucket")
    tarballs = [write_logging_bundle(root / "build", rev, line, root / rev)
                for rev, line in ((NEW, OURS_LINE), (OLDER, OLDER_LINE), (NO_META, NO_META_LINE))]
    return lay_out_bucket(root / "bucket", tarballs)


def install(installer: str, bucket: Path, tmp_path: Path, revision: str) -> tuple[list[str], str]:
    """Install `revision`; the script's runs (one line of arguments each) and the installer's output."""
    log = tmp_path / "runs.log"
    result = run_get(installer, ["-a", "amd64", "--url", bucket.as_uri(), "-t", revision],
                     destdir=tmp_path / "dest", tmpdir=tmp_path / "tmp",
                     env={"HOME": str(tmp_path), "CRIO_TEST_INSTALL_LOG": str(log)})
    assert result.returncode == 0, result.stdout + result.stderr
    return log.read_text().splitlines(), result.stdout + result.stderr


def option_names(run: str) -> list[str]:
    return sorted({word for word in run.split() if word.startswith("--")})


def record_meta(tmp_path: Path) -> dict[str, str]:
    return parse_record((tmp_path / "dest" / STATE / INSTALL_RECORD).read_text()).meta


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_script_declaring_its_options_is_never_asked_for_help(installer: str, bucket: Path,
                                                                tmp_path: Path) -> None:
    runs, _out = install(installer, bucket, tmp_path / "new", NEW)
    # crio-get runs a script declaring plan-fd once (tests/get/test_install_plan_once.py); scripts/get plans first.
    assert [run.split()[:1] for run in runs] == ([["--verified-tarball"]] if installer == "python"
                                                 else [["--list"], ["--move-sources"]]), runs
    assert "--help" not in " ".join(runs).split()
    assert "--move-sources" in runs[-1].split() and "--record-meta" in runs[-1].split()
    assert record_meta(tmp_path / "new")["revision"] == NEW
    # An older script of ours: its --help is asked first, and the same options follow from it.
    older, _out = install(installer, bucket, tmp_path / "older", OLDER)
    assert [run.split()[:1] for run in older][:2] == [["--help"], ["--list"]] and len(older) == 3, older
    assert option_names(older[2]) == [name for name in option_names(runs[-1]) if name not in ("--plan-fd", "--go-fd")]
    assert record_meta(tmp_path / "older")["revision"] == OLDER


@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_option_left_off_the_line_is_not_passed(installer: str, bucket: Path, tmp_path: Path) -> None:
    """The line is believed even where --help says more: no --record-meta, and the installer says so."""
    runs, out = install(installer, bucket, tmp_path, NO_META)
    assert len(runs) == 2 and runs[0] == "--list", runs
    assert "--record-meta" not in runs[1].split() and "--verified-tarball" not in runs[1].split()
    assert "cannot record its revision" in out
    assert "revision" not in record_meta(tmp_path)


def test_the_shipped_line_names_every_option_the_help_shows() -> None:
    script = BUNDLE_FILES / BUNDLE_INSTALL_SCRIPT
    shown = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, check=True).stdout
    words = capabilities(script)
    assert set(words) & set(OPTIONS_DECLARED_BY), "the line no longer lists the options: --help would be run"
    assert set(words) & set(INSTALL_OPTION_CAPABILITIES) == {w for w, text in HELP_TEXT.items() if text in shown}
    assert set(HELP_TEXT) == set(INSTALL_OPTION_CAPABILITIES)
    # And what --help shows is what parse_args takes.
    for word in INSTALL_OPTION_CAPABILITIES:
        assert re.search(rf"^\s+--{word}\b", shown, re.M), word


HELP = "usage: install [--verified-tarball SHA256] [--record-meta KEY=VALUE] [--move-sources]"


@pytest.mark.parametrize(("line", "help_exit", "expected"), [
    (OURS_LINE, 3, set(INSTALL_OPTION_CAPABILITIES)),
    ("# crio-install-capabilities: list file-sums", 0, {"file-sums"}),
    (NO_META_LINE, 0, {"move-sources"}),
    (OLDER_LINE, 0, {"verified-tarball", "record-meta", "move-sources"}),   # from --help, not the line
    (OLDER_LINE, 3, set()),                                                  # a failing --help offers nothing
    ("# crio-install-capabilities: list", 0, {"verified-tarball", "record-meta", "move-sources"}),
    ("# crio-install-capabilities: list  move-sources", 0, {"verified-tarball", "record-meta", "move-sources"}),
])
def test_both_installers_read_the_offers_by_one_rule(line: str, help_exit: int, expected: set[str],
                                                     tmp_path: Path) -> None:
    """crio_installer.script_options.offered and scripts/get's install_offers, on the same scripts; --help
    runs (it leaves a mark) exactly when the line does not list the options."""
    bundle = tmp_path / "cri-o"
    bundle.mkdir()
    mark = tmp_path / "help-ran"
    (bundle / BUNDLE_INSTALL_SCRIPT).write_text(
        f"#!/usr/bin/env bash\n{line}\n"
        f'[ "${{1-}}" = --help ] || exit 9\necho x >>"{mark}"\necho "{HELP}"\nexit {help_exit}\n')
    assert offered(bundle) == expected
    help_runs = len(mark.read_text().splitlines()) if mark.exists() else 0
    out = subprocess.run(["bash", str(GET_SCRIPT), "--contract", "install_offers", str(bundle)],
                         capture_output=True, text=True, check=True).stdout
    assert set(out.split()) == expected
    declared = bool(capabilities(bundle / BUNDLE_INSTALL_SCRIPT) & set(OPTIONS_DECLARED_BY))
    after = len(mark.read_text().splitlines()) if mark.exists() else 0
    assert (help_runs, after) == ((0, 0) if declared else (1, 2))
