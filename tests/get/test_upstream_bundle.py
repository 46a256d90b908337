"""Upstream-layout bundles (an install script that ignores its arguments) installed transactionally, and the
adoption of an upstream installation listed in ~/.crio-install, by both installers with the same outcome."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest
from crio_installer import adoption
from crio_installer.upstream_bundle import capabilities
from helpers.bundle_install import make_bundle_tree
from helpers.get_fixtures import (
    GET_SCRIPT,
    INSTALLERS,
    lay_out_bucket,
    run_get,
    snapshot,
    write_bundle,
    write_side_files,
    write_tarball,
)
from helpers.upstream_bundle import UPSTREAM_INSTALLED, upstream_files, write_upstream_bundle

from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    INSTALL_RECORD,
    INSTALL_STATE_DIR,
    UPSTREAM_ADOPTABLE_SUFFIXES,
    UPSTREAM_INSTALL_LIST,
    UPSTREAM_INSTALL_LIST_ADOPTED,
    tarball_name,
)
from crio.errors import ExitCode
from crio.record import Kind, parse_record

STATE = INSTALL_STATE_DIR.lstrip("/")
UP1, UP2, UP_FAIL, UP_ZSH, UP_LINK = "v1.21.1", "v1.21.2", "v1.21.3", "v1.21.4", "v1.21.5"
OURS_OLD, OURS, OURS_FAIL, REAL = "v1.21.0", "v1.22.0", "v1.22.1", "v1.22.2"
#: What the fixture bundle of ours installs, below DESTDIR.
OURS_INSTALLED = ("usr/local/bin/crio", "usr/local/bin/pinns", "usr/local/bin/crun", "etc/crio/crio.conf")


def write_real_bundle(directory: Path, arch: str, revision: str, work: Path) -> Path:
    """A bundle of ours with the real in-bundle install script (and manifest.json), as a tarball in `directory`."""
    extra = {name: f"{name} {revision}\n".encode() for name in ("bin/crio", "bin/pinns", "bin/crun")}
    src = make_bundle_tree(work, extra, via_tar=False)
    members = {path.relative_to(src).as_posix(): (path.read_bytes(), path.stat().st_mode & 0o777)
               for path in sorted(src.rglob("*")) if path.is_file()}
    tarball = write_tarball(directory / tarball_name(arch, revision), members)
    write_side_files(tarball)
    return tarball


def write_linking_bundle(directory: Path, arch: str, revision: str) -> Path:
    """An upstream-layout bundle whose script also leaves a symlink in its DESTDIR (to the host's /etc/passwd)."""
    files = upstream_files(revision)
    script, mode = files["install"]
    files["install"] = (script.replace(b'put 755 bin/pinns "$BINDIR"\n',
                                       b'put 755 bin/pinns "$BINDIR"\nln -s /etc/passwd "$DESTDIR$BINDIR/crio-passwd"\n'),
                        mode)
    assert files["install"][0] != script
    tarball = write_tarball(directory / tarball_name(arch, revision), files)
    write_side_files(tarball)
    return tarball


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Upstream-layout bundles (one failing after three files, one adding a zsh completion) and ours."""
    root = tmp_path_factory.mktemp("upstream-bucket")
    build = root / "build"
    tarballs = [
        write_upstream_bundle(build, "amd64", UP1),
        write_upstream_bundle(build, "amd64", UP2),
        write_upstream_bundle(build, "amd64", UP_FAIL, fail_after=3),
        write_upstream_bundle(build, "amd64", UP_ZSH, zsh=True),
        write_bundle(build, "amd64", OURS_OLD),
        write_bundle(build, "amd64", OURS),
        write_bundle(build, "amd64", OURS_FAIL, fail_after=2),
        write_real_bundle(build, "amd64", REAL, root / "real"),
        write_linking_bundle(build, "amd64", UP_LINK),
    ]
    return lay_out_bucket(root / "bucket", tarballs, {"latest-1.21.txt": f"{OURS_OLD}\n"})


def get(installer: str, bucket: Path, tmp_path: Path, *args: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One run into tmp_path/dest with HOME tmp_path/home; TMPDIR must be left empty."""
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    home.mkdir(exist_ok=True)
    result = run_get(installer, ["-a", "amd64", "--url", bucket.as_uri(), *args], destdir=tmp_path / "dest",
                     tmpdir=tmp, env={"HOME": str(home), **(env or {})})
    assert list(tmp.iterdir()) == [], f"stray files in TMPDIR: {list(tmp.iterdir())}"
    return result


def uninstall(installer: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_get(installer, ["-U"], destdir=tmp_path / "dest", tmpdir=tmp_path / "tmp",
                   env={"HOME": str(tmp_path / "home")})


def record(dest: Path):
    return parse_record((dest / STATE / INSTALL_RECORD).read_text())


def files(tree: dict) -> set[str]:
    """The files of a tree, without the installation kept for --rollback (previous/)."""
    return {path for path, (kind, _, _) in tree.items()
            if kind != "dir" and not path.startswith(f"{STATE}/previous/")}


def run_upstream_script(tmp_path: Path, dest: Path, home: Path, revision: str = "v1.20.0") -> None:
    """An installation made by the upstream-layout script itself (as upstream's get does): files and ~/.crio-install."""
    bundle = tmp_path / "upstream-bundle"
    for name, (data, mode) in upstream_files(revision).items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(data)
        (bundle / name).chmod(mode)
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "DESTDIR": str(dest), "HOME": str(home)}
    subprocess.run(["sh", "./install"], cwd=bundle, env=env, check=True, capture_output=True)


# --- the capability line --------------------------------------------------------------------------------

def test_the_capability_line_is_read_strictly_and_never_run(tmp_path: Path) -> None:
    script = tmp_path / "install"
    cases = {
        "#!/bin/sh\n# crio-install-capabilities: list uninstall\n": {"list", "uninstall"},
        "#!/bin/sh\n#  crio-install-capabilities: list\n": set(),             # not the fixed spelling
        "#!/bin/sh\n# crio-install-capabilities: list \n": set(),             # trailing blank
        "#!/bin/sh\necho '# crio-install-capabilities: list'\n": set(),       # in code, not a line of its own
        "#!/bin/sh\n" + "#\n" * 12 + "# crio-install-capabilities: list\n": set(),   # not among the first lines
        "#!/bin/sh\nset -ex\n": set(),
    }
    for text, expected in cases.items():
        script.write_text(text)
        assert capabilities(script) == expected, text
        out = subprocess.run(["bash", str(GET_SCRIPT), "--contract", "install_capabilities", str(script)],
                             capture_output=True, text=True, check=False)
        assert set(out.stdout.split()) == expected, (text, out.stdout, out.stderr)
    ours = Path(__file__).parents[2] / "release/crio_release/build/files/install"
    assert {"list", "uninstall", "record-meta", "verified-tarball"} <= capabilities(ours)


def test_the_adoptable_rule_is_one_rule_in_both_installers(tmp_path: Path) -> None:
    out = subprocess.run(["bash", str(GET_SCRIPT), "--contract", "adoptable_suffixes"], capture_output=True,
                         text=True, check=True)
    assert tuple(out.stdout.splitlines()) == UPSTREAM_ADOPTABLE_SUFFIXES
    dest, sdir = str(tmp_path / "dest"), tmp_path / "dest" / STATE
    cases = [f"{dest}/usr/local/bin/crio", f"{dest}/usr/libexec/crio/conmon", f"{dest}/etc/crio/crio.conf.d/10-crio.conf",
             f"{dest}/etc/passwd", "/usr/local/bin/crio", f"{dest}/../x/usr/local/bin/crio", "/../etc/passwd",
             f"{dest}/opt/cni/bin/*", f"{dest}/{STATE}/install", f"{dest}/usr/local/bin/crio/", "usr/local/bin/crio",
             f"{dest}//usr/local/bin/crio", f"{dest}/usr/local/bin/crictl"]
    for line in cases:
        expected = adoption.adoptable_error(line, dest, sdir) is None
        out = subprocess.run(["bash", str(GET_SCRIPT), "--contract", "adoptable", line, dest, str(sdir)],
                             capture_output=True, text=True, check=False)
        assert (out.returncode == 0) == expected, (line, out.stderr)


# --- installing an upstream-layout bundle ---------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
def test_an_upstream_layout_bundle_installs_transactionally_with_our_record(installer: str, bucket: Path,
                                                                           tmp_path: Path) -> None:
    dest, args_log = tmp_path / "dest", tmp_path / "args.log"
    result = get(installer, bucket, tmp_path, "-t", UP1, env={"UPSTREAM_ARGS_LOG": str(args_log)})
    assert result.returncode == 0, result.stderr
    assert "upstream layout" in result.stderr
    assert args_log.read_text() == "[]\n", "the upstream script was run with options (or more than once)"
    tree = snapshot(dest)
    assert files(tree) == {*UPSTREAM_INSTALLED, f"{STATE}/{INSTALL_RECORD}", f"{STATE}/lock"}
    rec = record(dest)
    assert rec.meta["layout"] == "upstream" and rec.meta["revision"] == UP1 and rec.meta["arch"] == "amd64"
    assert "install-script" not in rec.meta
    rows = {row.path: row for row in rec.rows}
    for rel in UPSTREAM_INSTALLED:
        row = rows[f"/{rel}"]
        assert row.kind is (Kind.CONFIG if rel.startswith("etc/") else Kind.FILE)
        assert row.mode == f"0{tree[rel][1] & 0o777:o}"
    assert rows["/usr/libexec/crio/runc"].mode == "0755"
    assert {p for p, r in rows.items() if r.kind is Kind.DIR} >= {"/usr/libexec/crio", "/opt/cni/bin", "/var/lib/crio-install"}
    assert not (tmp_path / "home" / UPSTREAM_INSTALL_LIST).exists(), "the script's list reached the real HOME"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_scratch_prefix_is_mended_to_the_real_destdir(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    conf = (dest / "etc/crio/crio.conf.d/10-crio.conf").read_text()
    assert f'runtime_path = "{dest}/usr/libexec/crio/runc"' in conf      # DESTDIR, as upstream puts it there
    assert f'signature_policy = "{dest}/etc/crio/policy.json"' in conf
    assert str(tmp_path / "tmp") not in conf and "upstream." not in conf
    for path in dest.rglob("*"):
        if path.is_file():
            assert str(tmp_path / "tmp").encode() not in path.read_bytes(), path
    sha = {row.path: row.sha256 for row in record(dest).rows}
    assert sha["/etc/crio/crio.conf.d/10-crio.conf"] == hashlib.sha256(conf.encode()).hexdigest()


@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize(("revision", "says"), [
    (UP_FAIL, ("failed in the scratch root", "nothing was changed")),                     # the script fails
    (UP_LINK, ("/usr/local/bin/crio-passwd something other than a regular file",)),      # it makes a link
], ids=["script-fails", "script-makes-a-link"])
def test_a_bad_scratch_run_is_refused_and_nothing_changes(installer: str, revision: str, says: tuple[str, ...],
                                                           bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    before = snapshot(dest)
    result = get(installer, bucket, tmp_path, "-t", revision)
    assert result.returncode == ExitCode.INSTALL, result.stderr
    for text in says:
        assert text in result.stderr
    assert snapshot(dest) == before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_fifo_at_a_destination_is_refused_before_anything_is_written(installer: str, bucket: Path,
                                                                      tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    fifo = dest / "usr/libexec/crio/runc"
    fifo.unlink()
    os.mkfifo(fifo)
    moved = tmp_path / "fifo-parked"
    before = snapshot_around(dest, fifo, moved)
    result = get(installer, bucket, tmp_path, "-t", UP2)
    assert result.returncode == ExitCode.INSTALL, result.stderr
    assert f"{fifo} is a FIFO" in result.stderr and "nothing was changed" in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert snapshot_around(dest, fifo, moved) == before


def snapshot_around(root: Path, fifo: Path, parking: Path) -> dict:
    """snapshot() would block reading the FIFO: it is moved aside while the rest is read."""
    fifo.rename(parking)
    try:
        return snapshot(root)
    finally:
        parking.rename(fifo)


class Frozen:
    """A directory nothing can be created in, root or not (chattr +i for root, mode 0555 otherwise)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Frozen:
        self.path.mkdir(parents=True)
        if os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(self.path)], capture_output=True, check=False).returncode != 0:
                pytest.skip("chattr +i is not available here: cannot make a rename fail as root")
        else:
            self.path.chmod(0o555)
        return self

    def __exit__(self, *exc: object) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(self.path)], check=False)
        self.path.chmod(0o755)


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_failure_while_moving_files_in_restores_the_previous_files_byte_for_byte(installer: str, bucket: Path,
                                                                                  tmp_path: Path) -> None:
    """The zsh completion goes last, into a directory nothing can be created in: every file moved before it is undone."""
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    (dest / "etc/crio/policy.json").write_text('{"changed": "by the admin"}\n')
    with Frozen(dest / "usr/local/share/zsh/site-functions"):
        before = snapshot(dest)
        result = get(installer, bucket, tmp_path, "-t", UP_ZSH)
        after = snapshot(dest)
    assert result.returncode == ExitCode.INSTALL, result.stderr
    assert "restored" in result.stderr
    assert after == before
    assert record(dest).meta["revision"] == UP1


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_removes_exactly_what_the_upstream_layout_install_wrote(installer: str, bucket: Path,
                                                                         tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "usr/local/bin").mkdir(parents=True)
    (dest / "usr/local/bin/other-tool").write_text("not ours\n")
    (dest / "etc/crio/crio.conf.d").mkdir(parents=True)
    (dest / "etc/crio/crio.conf.d/99-admin.conf").write_text("# the admin's\n")
    before = snapshot(dest)
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    assert get(installer, bucket, tmp_path, "-t", UP2).returncode == 0      # an upgrade over it
    assert record(dest).meta["revision"] == UP2
    result = uninstall(installer, tmp_path)
    assert result.returncode == 0, result.stderr
    assert snapshot(dest) == before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_uninstall_leaves_a_changed_config_and_names_it(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    (dest / "etc/crio/policy.json").write_text("{}\n")
    result = uninstall(installer, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"left {dest}/etc/crio/policy.json" in result.stderr
    assert files(snapshot(dest)) == {"etc/crio/policy.json"}


@pytest.mark.parametrize("installer", INSTALLERS)
def test_from_ours_to_upstream_layout_and_back_no_file_is_left_over(installer: str, bucket: Path,
                                                                   tmp_path: Path) -> None:
    """Ours (the real install script) -> upstream layout -> ours -> -U: each install removes what the one before
    wrote and it does not, so nothing of either is left at the end."""
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", REAL).returncode == 0
    ours = {row.path.lstrip("/") for row in record(dest).rows if row.kind is not Kind.DIR}
    assert "usr/libexec/crio/crun" in ours and (dest / STATE / BUNDLE_INSTALL_SCRIPT).is_file()
    result = get(installer, bucket, tmp_path, "-t", UP1)
    assert result.returncode == 0, result.stderr
    assert files(snapshot(dest)) == {*UPSTREAM_INSTALLED, f"{STATE}/{INSTALL_RECORD}", f"{STATE}/lock"}, \
        "files of ours the upstream-layout bundle does not install (crun, the stored script, ...) stayed"
    result = get(installer, bucket, tmp_path, "-t", REAL)
    assert result.returncode == 0, result.stderr
    assert "install-script" in record(dest).meta and "layout" not in record(dest).meta
    result = uninstall(installer, tmp_path)
    assert result.returncode == 0, result.stderr
    left = files(snapshot(dest))
    assert not left & ours
    assert left <= set(UPSTREAM_INSTALLED), left


@pytest.mark.parametrize("installer", INSTALLERS)
def test_the_downgrade_rule_holds_for_an_upstream_layout_install(installer: str, bucket: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert get(installer, bucket, tmp_path, "-t", UP1).returncode == 0
    before = snapshot(dest)
    result = get(installer, bucket, tmp_path, "-t", "v1.21")
    assert result.returncode == ExitCode.DOWNGRADE, result.stderr
    assert f"names {OURS_OLD}, which is older than the installed {UP1}" in result.stderr
    assert snapshot(dest) == before


# --- adopting an upstream installation ------------------------------------------------------------------

@pytest.mark.parametrize("installer", INSTALLERS)
@pytest.mark.parametrize("bundle", [OURS, UP1], ids=["ours", "upstream-layout"])
def test_an_upstream_installation_is_adopted(installer: str, bundle: str, bucket: Path, tmp_path: Path) -> None:
    dest, home = tmp_path / "dest", tmp_path / "home"
    run_upstream_script(tmp_path, dest, home)
    listed = (home / UPSTREAM_INSTALL_LIST).read_text().splitlines()
    assert f"{dest}/usr/libexec/crio/conmon" in listed and f"{dest}/opt/cni/bin/*" in listed
    result = get(installer, bucket, tmp_path, "-t", bundle)
    assert result.returncode == 0, result.stderr
    assert "adopting the upstream installation" in result.stderr
    assert not (home / UPSTREAM_INSTALL_LIST).exists()
    assert (home / UPSTREAM_INSTALL_LIST_ADOPTED).read_text().splitlines() == listed
    now = files(snapshot(dest))
    if bundle == OURS:
        # Consistent: upstream's 10-crio.conf (pointing at /usr/libexec/crio/*) and the binaries there are gone.
        assert now == {*OURS_INSTALLED, "opt/cni/bin/bridge", f"{STATE}/{INSTALL_RECORD}", f"{STATE}/install",
                       f"{STATE}/lock"}
        assert (dest / "usr/local/bin/crio").read_text().startswith(f"#!/bin/sh\necho crio {OURS}")
    else:
        assert now == {*UPSTREAM_INSTALLED, f"{STATE}/{INSTALL_RECORD}", f"{STATE}/lock"}
        assert f"pinns {UP1}" in (dest / "usr/local/bin/pinns").read_text()
    assert uninstall(installer, tmp_path).returncode == 0
    left = files(snapshot(dest))
    assert left == ({"opt/cni/bin/bridge"} if bundle == OURS else set()), \
        "upstream lists CNI plugins as a literal glob: not adopted, so ours leaves them"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_failed_install_restores_the_adopted_installation_and_its_list(installer: str, bucket: Path,
                                                                        tmp_path: Path) -> None:
    dest, home = tmp_path / "dest", tmp_path / "home"
    run_upstream_script(tmp_path, dest, home)
    before, home_before = snapshot(dest), snapshot(home)
    result = get(installer, bucket, tmp_path, "-t", OURS_FAIL)
    assert result.returncode == ExitCode.INSTALL, result.stderr
    assert snapshot(dest) == before and snapshot(home) == home_before


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_planted_list_is_ignored_line_by_line_and_touches_nothing(installer: str, bucket: Path,
                                                                   tmp_path: Path) -> None:
    dest, home, outside = tmp_path / "dest", tmp_path / "home", tmp_path / "outside"
    (outside / "usr/local/bin").mkdir(parents=True)
    (outside / "usr/local/bin/crio").write_text("someone else's\n")
    (dest / "etc").mkdir(parents=True)
    (dest / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    home.mkdir()
    planted = [f"{dest}/../etc/passwd", "/../etc/passwd", "/etc/passwd", f"{outside}/usr/local/bin/crio",
               f"{dest}/etc/passwd", f"{dest}/{STATE}/{INSTALL_RECORD}", "relative/usr/local/bin/crio"]
    (home / UPSTREAM_INSTALL_LIST).write_text("".join(f"{line}\n" for line in planted))
    before_outside, before_home = snapshot(outside), snapshot(home)
    passwd = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else None
    result = get(installer, bucket, tmp_path, "-t", OURS)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(f"{home / UPSTREAM_INSTALL_LIST} line") == len(planted)
    assert "adopting" not in result.stderr
    assert snapshot(outside) == before_outside and snapshot(home) == before_home
    assert (dest / "etc/passwd").read_text() == "root:x:0:0::/root:/bin/sh\n"
    if passwd is not None:
        assert Path("/etc/passwd").read_bytes() == passwd
