"""The spec loader: what it accepts, and a one-line error naming the component for everything it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.build.spec import load_spec
from helpers.bundles import write_spec

from crio.errors import CrioError, ExitCode

GOOD = '''
[nix]
nixpkgs = { url = "https://example.org/n.tar.gz" }

[[component]]
name = "crun"
version = "1.21"
license = "GPL-2.0-or-later"
homepage = "https://github.com/containers/crun"
dest = "bin/crun"
mode = "0755"
[component.source.amd64]
url = "https://github.com/containers/crun/releases/download/1.21/crun-1.21-linux-amd64"
sha256 = "A64"
[component.source.arm64]
url = "https://example.org/crun.tar.gz"
sha256 = "B64"
member = "./crun"
'''.replace("A64", "a" * 64).replace("B64", "b" * 64)


def test_good_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path / "s.toml", GOOD))
    (crun,) = spec.components
    assert crun.mode == 0o755 and crun.dest == "bin/crun" and crun.license == "GPL-2.0-or-later"
    assert crun.source_for("amd64").kind == "url" and crun.source_for("amd64").members == ()
    assert crun.source_for("arm64").members == ("crun",) and crun.source_for("arm64").single_member
    assert spec.nix == {"nixpkgs": {"url": "https://example.org/n.tar.gz"}}
    spec.check_complete(["amd64", "arm64"])
    with pytest.raises(CrioError) as err:
        spec.check_complete(["s390x"])
    assert err.value.exit_code == ExitCode.MISSING_COMPONENT


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_spec(tmp_path / "s.toml", GOOD.replace('version = "1.21"', 'version = 1.21"'))
    with pytest.raises(CrioError) as err:
        load_spec(path)
    assert err.value.exit_code == ExitCode.SPEC
    assert err.value.message.startswith(f"spec {path} does not parse: ")
    assert "line 8" in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.parametrize(("change", "message"), [
    ((f'sha256 = "{"a" * 64}"\n[component.source.arm64]', '[component.source.arm64]'),
     "component crun: source.amd64: url https://github.com/containers/crun/releases/download/1.21/"
     "crun-1.21-linux-amd64 has no sha256; every download must be pinned by its sha256"),
    (('mode = "0755"', 'mode = "755x"'), 'component crun: mode must be an octal string such as "0755" or "0644", '
                                        "got '755x'"),
    (('mode = "0755"', 'mode = 493'), "component crun: mode must be an octal string"),
    (('mode = "0755"', 'mode = "4755"'), "component crun: mode 4755 sets setuid/setgid/sticky bits"),
    (('dest = "bin/crun"', 'dest = "/usr/bin/crun"'), "component crun: dest '/usr/bin/crun' is not a relative path"),
    (('dest = "bin/crun"', 'dest = "bin/../../crun"'), "component crun: dest 'bin/../../crun' is not a relative path"),
    (('dest = "bin/crun"', 'dest = "install"'), "component crun: dest 'install' is written by the builder itself"),
    (("[component.source.arm64]", "[component.source.mips]"),
     "component crun: unknown architecture 'mips' in [component.source.mips]; accepted: amd64, arm64, ppc64le, "
     "s390x or all"),
    (('homepage = ', 'homepag = '), "component crun: unknown key(s) homepag; accepted: dest, homepage, license"),
    (('member = "./crun"', 'member = "../crun"'), "component crun: source.arm64: member '../crun' must be a "
                                                  "relative path without '..'"),
    (('license = "GPL-2.0-or-later"', 'license = "GPL-2.0-or-laterr"'),
     "component crun: license 'GPL-2.0-or-laterr' is not a valid SPDX expression"),
    (('sha256 = "' + "b" * 64, 'sha256 = "' + "B" * 64), "component crun: source.arm64: sha256 must be 64 lowercase hex"),
    (('member = "./crun"', 'path = "x"'), "component crun: source.arm64: needs exactly one of url, path, build, nix, "
                                          "got url, path"),
    (('name = "crun"', 'name = "../crun"'), "component #1: name must match"),
    (('name = "crun"', 'name = "bundle"'), "component #1: name 'bundle' is reserved for the builder's own files"),
    (("[nix]\nnixpkgs = {", "nix = 3\nx = {"), "unknown top-level key(s) x"),
])
def test_invalid_specs(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    path = write_spec(tmp_path / "s.toml", GOOD.replace(*change))
    with pytest.raises(CrioError) as err:
        load_spec(path)
    assert err.value.exit_code == ExitCode.SPEC
    assert message in err.value.message
    assert err.value.message.startswith(f"spec {path}")


def test_duplicate_names_and_schema(tmp_path: Path) -> None:
    twice = GOOD + GOOD[GOOD.index("[[component]]"):]
    with pytest.raises(CrioError, match="component crun is defined twice"):
        load_spec(write_spec(tmp_path / "a.toml", twice))
    path = tmp_path / "b.toml"
    path.write_text("schema = 2\n" + GOOD)
    with pytest.raises(CrioError, match="schema must be 1, got 2"):
        load_spec(path)


def test_all_cannot_mix_with_arch_sources(tmp_path: Path) -> None:
    spec = GOOD.replace("[component.source.arm64]", "[component.source.all]")
    with pytest.raises(CrioError, match=r"source.all\] cannot be combined"):
        load_spec(write_spec(tmp_path / "s.toml", spec))


def test_nix_source_needs_member_and_unknown_builder(tmp_path: Path) -> None:
    nix = GOOD.replace(f'url = "https://example.org/crun.tar.gz"\nsha256 = "{"b" * 64}"\nmember = "./crun"',
                       'nix = "arm64"')
    with pytest.raises(CrioError, match="nix source 'arm64' needs member"):
        load_spec(write_spec(tmp_path / "n.toml", nix))
    build = nix.replace('nix = "arm64"', 'build = "something"')
    with pytest.raises(CrioError, match="unknown builder 'something'; accepted: crio-status-zipapp"):
        load_spec(write_spec(tmp_path / "b.toml", build))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CrioError, match="cannot read spec") as err:
        load_spec(tmp_path / "nope.toml")
    assert err.value.exit_code == ExitCode.SPEC
