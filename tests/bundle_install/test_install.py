"""Install into a DESTDIR: the tree, the modes, rendering with real paths, idempotence, path variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers.bundle_install import (
    BUNDLE_FILES,
        install_env,
    make_bundle_tree,
    run_install,
    snapshot,
)

from crio.artifacts import INSTALL_RECORD, INSTALL_STATE_DIR

STATE = INSTALL_STATE_DIR.lstrip("/")

#: Destination (below DESTDIR, default paths, Debian) -> (mode, source in the bundle or None).
EXPECTED_FILES = {
    "usr/local/bin/crio-status": (0o755, "bin/crio-status"),
    "usr/local/lib/systemd/system/crio.service": (0o644, "contrib/crio.service"),
    "etc/crio/policy.json": (0o644, "contrib/policy.json"),
    "etc/containers/registries.conf.d/registries.conf": (0o644, "contrib/registries.conf"),
    "etc/cni/net.d/10-crio-bridge.conflist.disabled": (0o644, "contrib/10-crio-bridge.conflist.disabled"),
    "etc/crio/crio.conf.d/10-crio.conf": (0o644, "etc/10-crio.conf"),
    "etc/crictl.yaml": (0o644, "etc/crictl.yaml"),
    "etc/default/crio": (0o644, "etc/crio"),
    "usr/local/share/oci-umount/oci-umount.d/crio-umount.conf": (0o644, "etc/crio-umount.conf"),
    "usr/local/share/man/man8/crio-status.8": (0o644, "man/crio-status.8"),
    "usr/local/share/bash-completion/completions/crio-status": (0o644, "completions/bash/crio-status"),
    "usr/local/share/fish/completions/crio-status.fish": (0o644, "completions/fish/crio-status.fish"),
    "usr/local/share/zsh/site-functions/_crio-status": (0o644, "completions/zsh/_crio-status"),
    f"{STATE}/{INSTALL_RECORD}": (0o644, None),
    f"{STATE}/install": (0o755, "install"),
}
CONFIGS = {p for p in EXPECTED_FILES if p.startswith("etc/") or "/oci-umount.d/" in p}


def expected_dirs(files: list[str]) -> set[str]:
    dirs = set()
    for f in files:
        parts = f.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def record_lines(destdir: Path) -> list[list[str]]:
    return [line.split("\t") for line in (destdir / STATE / INSTALL_RECORD).read_text().splitlines()]


def test_installs_the_expected_tree_with_modes(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    result = run_install(bundle / "install", env=env)
    assert result.returncode == 0, result.stderr
    snap = snapshot(destdir)
    want = {path: ("file", mode) for path, (mode, _src) in EXPECTED_FILES.items()}
    want.update({d: ("dir", 0o755) for d in expected_dirs(list(EXPECTED_FILES))})
    assert {p: (kind, mode) for p, (kind, mode, _h) in snap.items()} == want
    # Files copied verbatim are byte-identical to the bundle's.
    for dest in ("usr/local/bin/crio-status", "usr/local/share/man/man8/crio-status.8", f"{STATE}/install",
                 "usr/local/share/zsh/site-functions/_crio-status", "etc/crio/policy.json"):
        assert (destdir / dest).read_bytes() == (bundle / EXPECTED_FILES[dest][1]).read_bytes()
    assert "installed " in result.stdout
    # The installed crio-status (the builder's zipapp) runs from its new place.
    version = subprocess.run([str(destdir / "usr/local/bin/crio-status"), "--version"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.startswith("crio-status version ")


def test_record_lists_every_written_file_with_hash_mode_kind(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    rows = record_lines(destdir)
    assert all(len(r) == 4 for r in rows)
    files = {r[0]: r for r in rows if r[3] != "dir"}
    dirs = {r[0] for r in rows if r[3] == "dir"}
    recorded_files = {p for p in EXPECTED_FILES if p.split("/")[-1] not in (INSTALL_RECORD, "install")}
    assert set(files) == {"/" + p for p in recorded_files}
    for path, (_p, digest, mode, kind) in files.items():
        rel = path.lstrip("/")
        assert digest == snapshot(destdir)[rel][2]
        assert mode == f"{EXPECTED_FILES[rel][0]:04o}"
        assert kind == ("config" if rel in CONFIGS else "file")
    # Every directory the install created (all of them: DESTDIR was empty), and no other.
    assert dirs == {"/" + d for d in expected_dirs(list(EXPECTED_FILES))}


def test_no_destdir_in_any_installed_file_and_real_paths_rendered(bundle: Path, tmp_path: Path,
                                                                  os_release: Path) -> None:
    # Spaces and '&' in DESTDIR, '&' in PREFIX: neither may be mangled by the renderer.
    destdir = tmp_path / "dest dir & co"
    env = install_env(os_release, DESTDIR=str(destdir), PREFIX="/opt/crio&x", SYSCONFIGDIR="/etc/sysconfig")
    result = run_install(bundle / "install", env=env)
    assert result.returncode == 0, result.stderr
    for path in destdir.rglob("*"):
        if path.is_file():
            assert str(destdir).encode() not in path.read_bytes(), path
            assert b"@BINDIR@" not in path.read_bytes() or path.name == "install", path
    unit = (destdir / "opt/crio&x/lib/systemd/system/crio.service").read_text()
    assert "ExecStart=/opt/crio&x/bin/crio \\\n" in unit
    assert "EnvironmentFile=-/etc/sysconfig/crio\n" in unit
    conf = (destdir / "etc/crio/crio.conf.d/10-crio.conf").read_text()
    assert 'runtime_path = "/usr/libexec/crio/crun"' in conf
    assert 'plugin_dirs = ["/opt/cni/bin"]' in conf
    assert 'signature_policy = "/etc/crio/policy.json"' in conf
    assert (destdir / "opt/crio&x/bin/crio-status").exists()


def test_reinstall_is_idempotent(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    assert run_install(bundle / "install", env=env).returncode == 0
    first = snapshot(destdir)
    second_run = run_install(bundle / "install", env=env)
    assert second_run.returncode == 0, second_run.stderr
    assert snapshot(destdir) == first
    assert ".crio-new" not in second_run.stdout


def test_every_path_variable_is_honoured(tmp_path: Path, os_release: Path) -> None:
    extra = {"cni-plugins/bridge": b"#!/bin/sh\n", "libexec/helper": b"#!/bin/sh\n"}
    bundle = make_bundle_tree(tmp_path / "b", extra)
    destdir = tmp_path / "d"
    variables = {
        "ETCDIR": "/E", "CONTAINERS_DIR": "/CT", "CONTAINERS_REGISTRIES_CONFD_DIR": "/RD", "CNIDIR": "/CNI",
        "BINDIR": "/B", "MANDIR": "/M", "OCIDIR": "/OCI", "BASHINSTALLDIR": "/BA", "FISHINSTALLDIR": "/FI",
        "ZSHINSTALLDIR": "/ZS", "OPT_CNI_BIN_DIR": "/OPT", "SYSTEMDDIR": "/SD", "SYSCONFIGDIR": "/SC",
        "STATEDIR": "/ST", "LIBEXECDIR": "/LX",
    }
    env = install_env(os_release, DESTDIR=str(destdir), **variables)
    result = run_install(bundle / "install", env=env)
    assert result.returncode == 0, result.stderr
    files = {p for p, (kind, _m, _h) in snapshot(destdir).items() if kind == "file"}
    assert files == {
        "B/crio-status", "OPT/bridge", "LX/crio/helper", "SD/crio.service", "E/crio/policy.json",
        "RD/registries.conf", "CNI/10-crio-bridge.conflist.disabled", "E/crio/crio.conf.d/10-crio.conf", "E/crictl.yaml", "SC/crio",
        "OCI/crio-umount.conf", "M/man8/crio-status.8", "BA/crio-status", "FI/crio-status.fish",
        "ZS/_crio-status", "ST/record.tsv", "ST/install",
    }
    assert "ExecStart=/B/crio " in (destdir / "SD/crio.service").read_text()
    assert "EnvironmentFile=-/SC/crio" in (destdir / "SD/crio.service").read_text()


def test_extra_files_are_installed_by_the_same_rules(tmp_path: Path, os_release: Path) -> None:
    extra = {
        "bin/crun": b"\x7fELF fake crun", "cni-plugins/loopback": b"#!/bin/sh\n", "man/crio.conf.5": b".TH X 5\n",
        "etc/20-extra.conf": b"[crio]\n", "contrib/99-loopback.conflist": b"{}\n",
        "completions/bash/crio": b"# bash\n", "contrib/notes.txt": b"not installed\n",
    }
    bundle = make_bundle_tree(tmp_path / "b", extra)
    destdir = tmp_path / "d"
    result = run_install(bundle / "install", env=install_env(os_release, DESTDIR=str(destdir)))
    assert result.returncode == 0, result.stderr
    snap = snapshot(destdir)
    assert snap["usr/libexec/crio/crun"][:2] == ("file", 0o755)
    assert snap["opt/cni/bin/loopback"][:2] == ("file", 0o755)
    assert snap["usr/local/share/man/man5/crio.conf.5"][:2] == ("file", 0o644)
    assert snap["etc/crio/crio.conf.d/20-extra.conf"][:2] == ("file", 0o644)
    assert snap["etc/cni/net.d/99-loopback.conflist"][:2] == ("file", 0o644)
    assert snap["usr/local/share/bash-completion/completions/crio"][:2] == ("file", 0o644)
    assert not any("notes.txt" in p for p in snap)
    assert "skipping contrib/notes.txt" in result.stderr


@pytest.mark.parametrize(("os_release_text", "systemddir", "sysconfigdir"), [
    ('NAME="Fedora Linux"\nID=fedora\nVARIANT_ID=coreos\n', "etc/systemd/system", "etc/sysconfig"),
    ('NAME="Red Hat Enterprise Linux CoreOS"\nID="rhcos"\nID_LIKE="rhel fedora"\n', "etc/systemd/system", "etc/sysconfig"),
    ('NAME="Fedora Linux"\nID=fedora\nVARIANT_ID=server\n', "usr/local/lib/systemd/system", "etc/sysconfig"),
    ('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n', "usr/local/lib/systemd/system", "etc/default"),
    ('NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n', "usr/local/lib/systemd/system", "etc/default"),
])
def test_distribution_defaults(bundle: Path, tmp_path: Path, os_release_text: str, systemddir: str,
                               sysconfigdir: str) -> None:
    os_release = tmp_path / "os-release-x"
    os_release.write_text(os_release_text)
    destdir = tmp_path / "d"
    result = run_install(bundle / "install", "--list", env=install_env(os_release, DESTDIR=str(destdir)))
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    assert f"{destdir}/{systemddir}/crio.service" in listed
    assert f"{destdir}/{sysconfigdir}/crio" in listed


def test_list_prints_what_install_writes_and_writes_nothing(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    before_bundle = snapshot(bundle)
    result = run_install(bundle / "install", "--list", env=env)
    assert result.returncode == 0, result.stderr
    assert snapshot(destdir) == {}
    assert snapshot(bundle) == before_bundle
    listed = result.stdout.splitlines()
    assert run_install(bundle / "install", env=env).returncode == 0
    written = {f"{destdir}/{p}" for p, (kind, _m, _h) in snapshot(destdir).items() if kind == "file"}
    assert sorted(listed) == sorted(written)


def test_list_into_missing_destdir_creates_nothing(bundle: Path, tmp_path: Path, os_release: Path) -> None:
    destdir = tmp_path / "not-there"
    result = run_install(bundle / "install", "--list", env=install_env(os_release, DESTDIR=str(destdir)))
    assert result.returncode == 0, result.stderr
    assert not destdir.exists()


def test_statedir_default_is_the_contracts(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    result = run_install(bundle / "install", "--list", env=env)
    assert f"{destdir}{INSTALL_STATE_DIR}/{INSTALL_RECORD}" in result.stdout.splitlines()
    assert run_install(bundle / "install", env=env).returncode == 0
    assert (destdir / INSTALL_STATE_DIR.lstrip("/") / INSTALL_RECORD).is_file()
    help_text = run_install(bundle / "install", "--help", env=env).stdout
    assert f"STATEDIR                         {INSTALL_STATE_DIR}" in help_text


def test_relative_destdir_is_taken_from_the_working_directory(bundle: Path, tmp_path: Path, os_release: Path) -> None:
    result = run_install(bundle / "install", env=install_env(os_release, DESTDIR="rel"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rel/usr/local/bin/crio-status").is_file()


@pytest.mark.parametrize("tool", ["sha256sum", "shasum", "openssl"])
def test_each_hash_tool_installs(bundle: Path, destdir: Path, env: dict[str, str], tool: str) -> None:
    result = run_install(bundle / "install", env={**env, "CRIO_INSTALL_HASH_TOOL": tool})
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in (destdir / STATE / INSTALL_RECORD).read_text().splitlines()]
    row = next(r for r in rows if r[0] == "/usr/local/bin/crio-status")
    assert row[1] == snapshot(destdir)["usr/local/bin/crio-status"][2]


def test_make_install_and_uninstall(bundle: Path, destdir: Path, env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "DESTDIR"}
    subprocess.run(["make", "-s", "install", f"DESTDIR={destdir}", "PREFIX=/opt/crio"], cwd=bundle, env=env,
                   check=True, capture_output=True)
    assert os.access(destdir / "opt/crio/bin/crio-status", os.X_OK)
    subprocess.run(["make", "-s", "uninstall", f"DESTDIR={destdir}"], cwd=bundle, env=env, check=True,
                   capture_output=True)
    assert snapshot(destdir) == {}


def test_shipped_files_are_the_documented_set() -> None:
    names = sorted(p.relative_to(BUNDLE_FILES).as_posix() for p in BUNDLE_FILES.rglob("*") if p.is_file())
    assert names == sorted([
        "install", "Makefile", "README.md", "contrib/crio.service", "contrib/policy.json",
        "contrib/registries.conf", "contrib/10-crio-bridge.conflist.disabled", "etc/10-crio.conf", "etc/crictl.yaml",
        "etc/crio-umount.conf", "etc/crio", "man/crio-status.8", "completions/bash/crio-status",
        "completions/fish/crio-status.fish", "completions/zsh/_crio-status",
    ])
    assert os.access(BUNDLE_FILES / "install", os.X_OK)
