"""Upstream's layout: a bundle built with the production spec's layout installs with an upstream-shaped script,
and our install script puts every file where upstream's does, honouring LIBEXEC_CRIO_DIR and ETC_CRIO_DIR.

The bundle is built by the real builder from helpers.upstream_layout's test spec (the production spec's
components and dests with local stand-ins for downloads and nix outputs, held to the same upstream-layout
rule); the upstream-shaped script (helpers/upstream_install.sh) is written from the facts about upstream's
in-bundle install script and reads exactly the paths crio.bundle_layout lists.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from crio_release.build.bundle import build_bundles
from helpers.bundle_install import install_env, run_install, snapshot, unpack
from helpers.get_fixtures import INSTALLERS, run_get
from helpers.upstream_layout import UPSTREAM_INSTALL, write_layout_spec

from crio.artifacts import INSTALL_PATH_VARIABLES
from crio.bundle_layout import (
    LIBEXEC_CRIO_BINARIES,
    TEMPLATES_DIR,
    UPSTREAM_DEFAULT_PATHS,
    UPSTREAM_INSTALL_READS,
    render_defaults,
    upstream_destination,
)
from crio.errors import ExitCode
from crio.revision import parse_revision

#: The defaults of both scripts on Debian (SYSCONFIGDIR given, so no dpkg is asked).
DEFAULTS = {
    "BINDIR": "/usr/local/bin", "LIBEXEC_CRIO_DIR": "/usr/libexec/crio", "ETC_CRIO_DIR": "/etc/crio",
    "ETCDIR": "/etc", "OPT_CNI_BIN_DIR": "/opt/cni/bin", "CNIDIR": "/etc/cni/net.d",
    "CONTAINERS_REGISTRIES_CONFD_DIR": "/etc/containers/registries.conf.d", "MANDIR": "/usr/local/share/man",
    "OCIDIR": "/usr/local/share/oci-umount/oci-umount.d", "SYSCONFIGDIR": "/etc/default",
    "SYSTEMDDIR": "/usr/local/lib/systemd/system",
    "BASHINSTALLDIR": "/usr/local/share/bash-completion/completions",
    "FISHINSTALLDIR": "/usr/local/share/fish/completions", "ZSHINSTALLDIR": "/usr/local/share/zsh/site-functions",
}
FILES = [path for path in UPSTREAM_INSTALL_READS if not path.endswith("/")]
#: Files with @VAR@ paths: shipped rendered with upstream's defaults, their templates under templates/.
RENDERED = {"etc/10-crio.conf", "contrib/crio.service", "contrib/registries.conf", "etc/crio"}


@pytest.fixture(scope="module")
def layout_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layout")
    spec = write_layout_spec(root / "spec")
    result = build_bundles(spec, ["amd64"], parse_revision("v1.36.1"), root / "out", source_date_epoch=0)
    return result.bundles["amd64"].tarball.path


@pytest.fixture
def layout_bundle(tmp_path: Path, layout_tarball: Path) -> Path:
    return unpack(layout_tarball, tmp_path / "bundle")


def run_upstream(bundle: Path, dest: Path, home: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The upstream-shaped script, copied into the bundle as upstream's get would use it, run with sh."""
    script = bundle / "upstream-install"
    shutil.copyfile(UPSTREAM_INSTALL, script)
    home.mkdir(exist_ok=True)
    env = install_env(None, DESTDIR=str(dest), HOME=str(home), **{"SYSCONFIGDIR": "/etc/default", **variables})
    return subprocess.run(["sh", str(script), "--list"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def files_below(root: Path) -> set[str]:
    return {p for p, (kind, _mode, _sha) in snapshot(root).items() if kind == "file"}


def test_the_test_bundle_holds_every_path_upstreams_script_reads(layout_bundle: Path) -> None:
    for path in FILES:
        assert (layout_bundle / path).is_file(), path
    assert sorted(p.name for p in (layout_bundle / "cni-plugins").iterdir())


def test_files_upstream_copies_verbatim_hold_real_paths(layout_bundle: Path) -> None:
    # Upstream's script renders nothing: every file it reads names upstream's default paths, no @VAR@.
    for path in FILES:
        data = (layout_bundle / path).read_bytes()
        assert not any(f"@{var}@".encode() in data for var in INSTALL_PATH_VARIABLES), path
    templates = sorted(p.relative_to(layout_bundle / TEMPLATES_DIR).as_posix()
                       for p in (layout_bundle / TEMPLATES_DIR).rglob("*") if p.is_file())
    assert templates == sorted(RENDERED)
    for path in templates:
        template = (layout_bundle / TEMPLATES_DIR / path).read_bytes()
        assert b"@" in template and render_defaults(template) == (layout_bundle / path).read_bytes()
    unit = (layout_bundle / "contrib/crio.service").read_text()
    assert "ExecStart=/usr/local/bin/crio \\\n" in unit and "EnvironmentFile=-/etc/sysconfig/crio\n" in unit


def test_upstream_shaped_install_installs_our_bundle(layout_bundle: Path, tmp_path: Path) -> None:
    dest, home = tmp_path / "dest", tmp_path / "home"
    result = run_upstream(layout_bundle, dest, home)
    assert result.returncode == 0, result.stderr
    plugins = sorted(p.name for p in (layout_bundle / "cni-plugins").iterdir())
    expected = {upstream_destination(path, DEFAULTS).lstrip("/"): path for path in FILES}
    expected.update({f"opt/cni/bin/{name}": f"cni-plugins/{name}" for name in plugins})
    assert files_below(dest) == set(expected)   # every file it reads, and nothing else
    for installed, origin in expected.items():
        if origin != "etc/10-crio.conf":       # upstream's script edits that one in place
            assert (dest / installed).read_bytes() == (layout_bundle / origin).read_bytes(), origin
    listed = (home / ".crio-install").read_text().splitlines()
    assert sorted(listed) == sorted(f"{dest}/{p}" for p in expected)


def test_a_bundle_without_an_upstream_path_stops_upstreams_install(layout_bundle: Path, tmp_path: Path) -> None:
    # What the production bundle's named gap (bin/conmonrs) means for upstream's get: it stops there.
    (layout_bundle / "bin/conmonrs").unlink()
    result = run_upstream(layout_bundle, tmp_path / "dest", tmp_path / "home")
    assert result.returncode != 0
    assert "conmonrs" in result.stderr
    assert not (tmp_path / "home/.crio-install").exists()


def test_our_install_puts_every_upstream_path_where_upstreams_does(layout_bundle: Path, tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert run_upstream(layout_bundle, theirs, tmp_path / "home", SYSCONFIGDIR="/etc/sysconfig").returncode == 0
    os_release = tmp_path / "os-release"
    os_release.write_text("ID=fedora\n")
    result = run_install(layout_bundle / "install", env=install_env(os_release, DESTDIR=str(ours)))
    assert result.returncode == 0, result.stderr
    theirs_files = files_below(theirs)
    assert theirs_files <= files_below(ours)
    variables = {**DEFAULTS, "SYSCONFIGDIR": "/etc/sysconfig"}
    for path in FILES:
        installed = upstream_destination(path, variables).lstrip("/")
        # Byte for byte what upstream's installs, rendered ones too (ours renders the template with the
        # same defaults); but upstream's script writes DESTDIR into 10-crio.conf, so that one is compared
        # with the bundle's.
        want = layout_bundle / path if path == "etc/10-crio.conf" else theirs / installed
        assert (ours / installed).read_bytes() == want.read_bytes(), path
    for name in LIBEXEC_CRIO_BINARIES:
        assert (ours / "usr/libexec/crio" / name).stat().st_mode & 0o777 == 0o755
        assert not (ours / "usr/local/bin" / name).exists()
    conf = tomllib.loads((ours / "etc/crio/crio.conf.d/10-crio.conf").read_text())
    runtimes = conf["crio"]["runtime"]["runtimes"]
    assert runtimes["crun"]["runtime_path"] == "/usr/libexec/crio/crun"
    assert runtimes["runc"]["runtime_path"] == "/usr/libexec/crio/runc"
    assert runtimes["crun"]["monitor_path"] == runtimes["runc"]["monitor_path"] == "/usr/libexec/crio/conmon"
    assert conf["crio"]["image"]["signature_policy"] == "/etc/crio/policy.json"
    # Shipped disabled: the name CNI ignores, and no enabled copy beside it.
    assert sorted(p.name for p in (ours / "etc/cni/net.d").iterdir()) == ["10-crio-bridge.conflist.disabled"]
    assert not (ours / "etc/containers/policy.json").exists()


def test_libexec_crio_dir_and_etc_crio_dir_are_honoured(layout_bundle: Path, tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text("ID=debian\n")
    dest = tmp_path / "dest"
    env = install_env(os_release, DESTDIR=str(dest), LIBEXEC_CRIO_DIR="/opt/c+rio/helpers", ETC_CRIO_DIR="/E/c=rio")
    result = run_install(layout_bundle / "install", env=env)
    assert result.returncode == 0, result.stderr
    files = files_below(dest)
    assert {f"opt/c+rio/helpers/{name}" for name in LIBEXEC_CRIO_BINARIES} <= files
    assert {"E/c=rio/policy.json", "E/c=rio/crio.conf.d/10-crio.conf", "usr/local/bin/crio"} <= files
    assert not any(p.startswith(("usr/libexec", "etc/crio")) for p in files)
    conf = tomllib.loads((dest / "E/c=rio/crio.conf.d/10-crio.conf").read_text())
    assert conf["crio"]["runtime"]["runtimes"]["crun"]["runtime_path"] == "/opt/c+rio/helpers/crun"
    assert conf["crio"]["image"]["signature_policy"] == "/E/c=rio/policy.json"
    # The upstream-shaped script with the same variables writes the same upstream paths to the same places.
    theirs = tmp_path / "theirs"
    assert run_upstream(layout_bundle, theirs, tmp_path / "home", LIBEXEC_CRIO_DIR="/opt/c+rio/helpers",
                        ETC_CRIO_DIR="/E/c=rio").returncode == 0
    assert files_below(theirs) <= files


def test_defaults_follow_libexecdir_and_etcdir(layout_bundle: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = run_install(layout_bundle / "install", "--list",
                         env=install_env(None, DESTDIR=str(dest), LIBEXECDIR="/LX", ETCDIR="/E",
                                         SYSCONFIGDIR="/etc/default"))
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.splitlines())
    assert {f"{dest}/LX/crio/conmon", f"{dest}/E/crio/policy.json",
            f"{dest}/E/crio/crio.conf.d/10-crio.conf"} <= listed


BAD = [("LIBEXEC_CRIO_DIR", "usr/libexec/crio"), ("LIBEXEC_CRIO_DIR", "/usr/libexec/crio/"),
       ("LIBEXEC_CRIO_DIR", "/usr/lib exec/crio"), ("ETC_CRIO_DIR", "/etc/../crio"), ("ETC_CRIO_DIR", '/etc/cr"io'),
       ("ETC_CRIO_DIR", "/etc/@BINDIR@")]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_values_are_usage_errors_before_anything_is_written(layout_bundle: Path, tmp_path: Path, name: str,
                                                                 value: str) -> None:
    dest = tmp_path / "dest"
    result = run_install(layout_bundle / "install", env=install_env(None, DESTDIR=str(dest), **{name: value}))
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith(f"install: error: {name}=")
    assert len(result.stderr.splitlines()) == 1
    assert not dest.exists() or snapshot(dest) == {}


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("name", "value"), [("LIBEXEC_CRIO_DIR", "relative"), ("ETC_CRIO_DIR", "/etc/cr io")])
def test_both_installers_refuse_a_bad_value(installer: str, name: str, value: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_get(installer, ["-U"], destdir=dest, tmpdir=tmp_path / "tmp", env={name: value})
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert name in result.stderr
    assert snapshot(dest) == {}


def test_upstream_defaults_name_every_path_variable() -> None:
    assert tuple(UPSTREAM_DEFAULT_PATHS) == INSTALL_PATH_VARIABLES
    assert {k: UPSTREAM_DEFAULT_PATHS[k] for k in DEFAULTS if k != "SYSCONFIGDIR"} == \
        {k: v for k, v in DEFAULTS.items() if k != "SYSCONFIGDIR"}


def test_a_changed_template_fails_verification(layout_bundle: Path, tmp_path: Path) -> None:
    template = layout_bundle / TEMPLATES_DIR / "contrib/crio.service"
    template.write_text(template.read_text().replace("@BINDIR@/crio", "/tmp/evil"))
    dest = tmp_path / "dest"
    result = run_install(layout_bundle / "install", env=install_env(None, DESTDIR=str(dest)))
    assert result.returncode == ExitCode.VERIFICATION
    assert "templates/contrib/crio.service does not match manifest.json" in result.stderr
    assert not dest.exists() or snapshot(dest) == {}


def test_a_template_the_manifest_does_not_list_is_refused(layout_bundle: Path, tmp_path: Path) -> None:
    planted = layout_bundle / TEMPLATES_DIR / "etc/crictl.yaml"
    planted.write_text("runtime-endpoint: unix:///tmp/evil.sock\n")
    dest = tmp_path / "dest"
    result = run_install(layout_bundle / "install", env=install_env(None, DESTDIR=str(dest)))
    assert result.returncode == ExitCode.VERIFICATION
    assert "templates/etc/crictl.yaml is not listed in manifest.json" in result.stderr
    assert not dest.exists() or snapshot(dest) == {}
