"""`install --record-meta KEY=VALUE`: the lines installers head the record with (revision, channel, build time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bundle_install import run_install, snapshot

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR
from crio.downgrade import installed_state
from crio.record import parse_record


def _record(destdir: Path) -> Path:
    return destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD


def test_help_declares_the_option(bundle: Path, env: dict[str, str]) -> None:
    """Installers look for exactly this text before passing the option (older bundles lack it)."""
    assert "--record-meta KEY=VALUE" in run_install(bundle / "install", "--help", env=env).stdout


def test_meta_lines_head_the_record_and_read_back(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    out = run_install(bundle / "install", "--record-meta", "revision=v1.21.1", "--record-meta=channel=latest-1.21.txt",
                      "--record-meta", "build-time=1700500000", env=env)
    assert out.returncode == 0, out.stderr
    text = _record(destdir).read_text()
    assert text.startswith("#revision\tv1.21.1\n#channel\tlatest-1.21.txt\n#build-time\t1700500000\n/")
    record = parse_record(text)
    assert record.meta == {"revision": "v1.21.1", "channel": "latest-1.21.txt", "build-time": "1700500000"}
    assert record.rows, "the rows follow the metadata"
    state = installed_state(_record(destdir).read_bytes())
    assert (state.revision, state.channel, state.build_time) == ("v1.21.1", "latest-1.21.txt", 1_700_500_000)
    assert run_install(bundle / "install", "--uninstall", env=env).returncode == 0
    assert not _record(destdir).exists()


@pytest.mark.parametrize("value", ["nokey", "Upper=x", "=x", "key=tab\there", "key=new\nline", "key=é"])
def test_a_bad_pair_is_a_usage_error_before_anything_is_written(value: str, bundle: Path, destdir: Path,
                                                                 env: dict[str, str]) -> None:
    out = run_install(bundle / "install", "--record-meta", value, env=env)
    assert out.returncode == 2, out.stderr
    assert "--record-meta" in out.stderr and "accepted is KEY=VALUE" in out.stderr
    assert snapshot(destdir) == {}
