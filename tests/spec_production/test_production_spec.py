"""The production spec keeps the production rules, and the rules catch each way it can break.

Mutation tests edit the real file's text (one targeted change each), write it
to a temporary file, and expect the spec loader or the pin rules to name the
problem, both as a library call and as `crio-release bundle --spec`, which
must stop before writing anything; every edit asserts it changed exactly what
it meant to, so a drifted spec cannot make a test pass vacuously.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from crio_release.build.pins import (
    PRODUCTION_SPEC,
    REQUIRED_ARCHS,
    REQUIRED_COMPONENTS,
    check_production_spec,
    nix_hash_to_hex,
    production_problems,
)
from crio_release.build.spec import load_spec, parse_spec
from crio_release.cli import cli

from crio.cli import run_main
from crio.errors import CrioError, ExitCode

TEXT = PRODUCTION_SPEC.read_text(encoding="utf-8")


def _spec() -> dict:
    return tomllib.loads(TEXT)


def _components(spec: dict) -> list[dict]:
    return spec["component"]


def _by_name(spec: dict, name: str) -> dict:
    [component] = [c for c in _components(spec) if c["name"] == name]
    return component


# --- the shipped file -------------------------------------------------------


def test_production_spec_has_no_problems_and_asks_the_builder_for_the_rules() -> None:
    spec = load_spec(PRODUCTION_SPEC)
    assert production_problems(spec) == []
    assert spec.production  # so `crio-release bundle --spec production.toml` applies every rule
    check_production_spec(PRODUCTION_SPEC)  # raises on any problem


def test_every_url_source_is_https_with_a_sha256_and_both_archs_are_complete() -> None:
    spec = _spec()
    url_sources = 0
    for component in _components(spec):
        sources = component["source"]
        if "all" in sources:
            continue
        assert set(REQUIRED_ARCHS) <= set(sources), component["name"]
        for table in sources.values():
            if "url" in table:
                url_sources += 1
                assert table["url"].startswith("https://")
                assert re.fullmatch(r"[0-9a-f]{64}", table["sha256"])
    # conmon, crun, runc, crictl, cni-plugins, crio-credential-provider for two architectures each.
    assert url_sources >= 12


def test_names_and_dests_are_unique_and_required_components_present() -> None:
    components = _components(_spec())
    names = [c["name"] for c in components]
    dests = [c["dest"] for c in components]
    assert len(names) == len(set(names))
    # Only directories are shared: crio's man pages and completions (nix) beside crio-status's (files/).
    shared = {d: sorted(c["name"] for c in components if c["dest"] == d) for d in dests if dests.count(d) > 1}
    assert shared == {"man": ["crio-man-pages", "man-pages"], "completions": ["completions", "crio-completions"]}
    assert set(REQUIRED_COMPONENTS) <= set(names)


def test_crio_version_is_the_nix_source_tag_and_nix_pins_are_well_formed() -> None:
    spec = _spec()
    source = spec["nix"]["crio-source"]
    assert _by_name(spec, "crio")["version"] == source["tag"].removeprefix("v")
    assert _by_name(spec, "pinns")["version"] == source["tag"].removeprefix("v")
    assert source["url"] == f"https://github.com/{source['owner']}/{source['repo']}/archive/{source['rev']}.tar.gz"
    rev = re.fullmatch(r"https://github\.com/NixOS/nixpkgs/archive/([0-9a-f]{40})\.tar\.gz", spec["nix"]["nixpkgs"]["url"])
    assert rev is not None
    for table in (spec["nix"]["nixpkgs"], source):
        assert len(nix_hash_to_hex(table["sha256"])) == 64


def test_spec_loads_with_the_bundle_builders_loader() -> None:
    spec = load_spec(PRODUCTION_SPEC)
    names = [c.name for c in spec.components]
    assert set(REQUIRED_COMPONENTS) <= set(names)
    spec.check_complete(list(REQUIRED_ARCHS))
    crictl = next(c for c in spec.components if c.name == "crictl")
    assert crictl.source_for("arm64").kind == "url"
    assert crictl.source_for("arm64").members == ("crictl",)
    assert spec.nix["crio-source"]["tag"] == "v" + next(c for c in spec.components if c.name == "crio").version


EMBEDDED_SPEC = PRODUCTION_SPEC.parent / "embedded.toml"


def test_own_tools_and_files_are_the_embedded_specs_exactly() -> None:
    # The production bundle carries this repository's files the same way the
    # embedded (default) bundle does; a change to one spec must reach both.
    embedded = tomllib.loads(EMBEDDED_SPEC.read_text(encoding="utf-8"))["component"]
    production = {c["name"]: c for c in _components(_spec())}
    assert embedded, "embedded spec has no components"
    for component in embedded:
        assert production.get(component["name"]) == component, component["name"]


# --- the nix hash decoder ---------------------------------------------------


def test_nix_hash_spellings_of_the_nixpkgs_pin_agree() -> None:
    # The pinned nixpkgs revision was found published twice, once in nix
    # base32 (fetchTarball) and once as SRI (fetchFromGitHub); both must be
    # the same digest, or one of the two sources is wrong.
    base32 = _spec()["nix"]["nixpkgs"]["sha256"]
    sri = "sha256-frdhQvPbmDYaScPFiCnfdh3B/Vh81Uuoo0w5TkWmmjU="
    assert nix_hash_to_hex(base32) == nix_hash_to_hex(sri)
    assert nix_hash_to_hex(nix_hash_to_hex(sri)) == nix_hash_to_hex(sri)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0dcslr2lwfaclfl4pmbwb3yw27bnvwlqiif394d3d66vyd163dv",  # 51 chars
        "0dcslr2lwfaclfl4pmbwb3yw27bnvwlqiif394d3d66vyd163dve",  # 'e' is not nix base32
        "zdcslr2lwfaclfl4pmbwb3yw27bnvwlqiif394d3d66vyd163dvy",  # more than 256 bits
        "sha256-frdhQvPbmDYaScPFiCnfdh3B/Vh81Uuoo0w5TkWmmj=",  # short SRI
        "sha512-frdhQvPbmDYaScPFiCnfdh3B/Vh81Uuoo0w5TkWmmjU=",
        "7EB76142F3DB98361A49C3C58829DF761DC1FD587CD54BA8A34C394E45A69A35",  # upper-case hex
    ],
)
def test_nix_hash_decoder_rejects_lookalikes(bad: str) -> None:
    with pytest.raises(ValueError, match=r"not|longer"):
        nix_hash_to_hex(bad)


# --- mutations: each broken copy is rejected, naming the problem -----------


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"expected {count} occurrence(s) of {old!r}"
    return text.replace(old, new)


def _drop_arch_table(text: str, component: str, arch: str) -> str:
    """Remove `[component.source.ARCH]` and its keys from the entry named `component`."""
    start = text.index(f'name = "{component}"')
    header = text.index(f"[component.source.{arch}]", start)
    end = text.find("\n[", header + 1)
    end = len(text) if end == -1 else end + 1
    return text[:header] + text[end:]


def _sha_line(text: str, component: str, arch: str) -> str:
    start = text.index(f'name = "{component}"')
    header = text.index(f"[component.source.{arch}]", start)
    return re.search(r'sha256 = "[0-9a-f]{64}"\n', text[header:]).group(0)


MUTATIONS = {
    "sha256 removed": (
        lambda t: _replace(t, _sha_line(t, "crun", "arm64"), ""),
        r"component crun: source\.arm64: url .* has no sha256",
    ),
    "sha256 too short": (
        lambda t: _replace(t, _sha_line(t, "runc", "amd64"), _sha_line(t, "runc", "amd64")[:-3] + '"\n'),
        r"component runc: source\.amd64: sha256 must be 64 lowercase hex",
    ),
    "plain http": (
        lambda t: _replace(t, "https://github.com/opencontainers/runc/releases/download/v1.5.2/runc.arm64",
                           "http://github.com/opencontainers/runc/releases/download/v1.5.2/runc.arm64"),
        r"runc source\.arm64 url .* must be https",
    ),
    "arm64 missing": (
        lambda t: _drop_arch_table(t, "crictl", "arm64"),
        r"crictl has no source for arm64",
    ),
    "amd64 missing for a nix component": (
        lambda t: _drop_arch_table(t, "pinns", "amd64"),
        r"pinns has no source for amd64",
    ),
    "amd64 url copied into arm64": (
        lambda t: _replace(t, "crun-1.30.1-linux-arm64", "crun-1.30.1-linux-amd64"),
        r"crun source\.arm64 url .* does not name architecture arm64",
    ),
    "same digest for both architectures": (
        lambda t: _replace(t, _sha_line(t, "conmon", "arm64"), _sha_line(t, "conmon", "amd64"), count=1),
        r"conmon source\.arm64 has the same sha256",
    ),
    "version bumped without the url": (
        lambda t: _replace(t, 'version = "1.5.2"', 'version = "1.5.3"'),
        r"runc source\.amd64 url .* does not mention version 1\.5\.3",
    ),
    "duplicate name": (
        lambda t: _replace(t, 'name = "conmon"', 'name = "runc"'),
        r"component runc is defined twice",
    ),
    "duplicate dest": (
        lambda t: _replace(t, 'dest = "bin/conmon"', 'dest = "bin/runc"'),
        r"writes dest bin/runc, already written by component conmon",
    ),
    "crio version differs from the nix tag": (
        lambda t: _replace(t, 'name = "crio"\nversion = "1.36.1"', 'name = "crio"\nversion = "1.36.2"'),
        r"component crio version 1\.36\.2 differs from nix\.crio-source tag v1\.36\.1",
    ),
    "nix attribute of the other architecture": (
        lambda t: _replace(t, '[component.source.arm64]\nnix = "arm64"\nmember = "bin/crio"',
                           '[component.source.arm64]\nnix = "amd64"\nmember = "bin/crio"'),
        r"crio source\.arm64 must be nix = 'arm64', member = 'bin/crio'",
    ),
    "nixpkgs rev is a branch": (
        lambda t: _replace(t, "nixpkgs/archive/3e3afe5174c561dee0df6f2c2b2236990146329f.tar.gz",
                           "nixpkgs/archive/nixos-unstable.tar.gz"),
        r"nix\.nixpkgs\.url names 'nixos-unstable', not a 40-hex commit",
    ),
    "nixpkgs hash is not a nix hash": (
        lambda t: _replace(t, '"0dcslr2lwfaclfl4pmbwb3yw27bnvwlqiif394d3d66vyd163dvy"', '"0dcslr2lwfacl"'),
        r"nix\.nixpkgs\.sha256: .* is not a nix sha256",
    ),
    "crio-source url does not match rev": (
        lambda t: _replace(t, 'url = "https://github.com/cri-o/cri-o/archive/v1.36.1.tar.gz"',
                           'url = "https://github.com/cri-o/cri-o/archive/main.tar.gz"'),
        r"nix\.crio-source\.url .* must be https://github\.com/cri-o/cri-o/archive/",
    ),
    "crio-source rev is a branch": (
        lambda t: _replace(t, 'rev = "v1.36.1"', 'rev = "main"'),
        r"nix\.crio-source\.rev 'main' is neither a 40-hex commit nor the tag",
    ),
    "crio-source section missing": (
        lambda t: _replace(t, "\n[nix.crio-source]\n", "\n[nix.crio-src]\n"),
        r"\[nix\.crio-source\] table is missing",
    ),
    "required component removed": (
        lambda t: _replace(t, 'name = "cni-plugins"', 'name = "cni"'),
        r"required component cni-plugins is missing",
    ),
    "credential provider removed": (
        lambda t: _replace(t, 'name = "crio-credential-provider"', 'name = "credential-provider"'),
        r"required component crio-credential-provider is missing",
    ),
    "credential provider arm64 url names amd64": (
        lambda t: _replace(t, "crio-credential-provider-linux-arm64", "crio-credential-provider-linux-amd64"),
        r"crio-credential-provider source\.arm64 url .* does not name architecture arm64",
    ),
    "credential provider digest copied from conmon": (
        lambda t: _replace(t, _sha_line(t, "crio-credential-provider", "amd64"), _sha_line(t, "conmon", "amd64")),
        r"crio-credential-provider source\.amd64 has the same sha256 as .*conmon",
    ),
    "man pages from the other architecture's nix output": (
        lambda t: _replace(t, '[component.source.arm64]\nnix = "arm64"\nmembers = ["share/man/man8/crio.8"',
                           '[component.source.arm64]\nnix = "amd64"\nmembers = ["share/man/man8/crio.8"'),
        r"crio-man-pages source\.arm64 must be nix = 'arm64', members = \['share/man/man8/crio\.8'",
    ),
    "a man page nix/crio.nix does not install": (
        lambda t: _replace(t, '"share/man/man5/crio.conf.d.5"]\n[component.source.arm64]',
                           '"share/man/man5/crio-status.8"]\n[component.source.arm64]'),
        r"crio-man-pages source\.amd64 must be nix = 'amd64', members = ",
    ),
    "completions removed": (
        lambda t: _replace(t, 'name = "crio-completions"', 'name = "crio-shell-completions"'),
        r"component crio-completions is missing: nix/crio\.nix installs it with crio",
    ),
    "man pages of another crio release": (
        lambda t: _replace(t, 'name = "crio-man-pages"\nversion = "1.36.1"', 'name = "crio-man-pages"\nversion = "1.35.0"'),
        r"component crio-man-pages version 1\.35\.0 differs from nix\.crio-source tag v1\.36\.1",
    ),
    "a single file written where a directory is shared": (
        lambda t: _replace(t, 'dest = "bin/crio-credential-provider"', 'dest = "man"'),
        r"component crio-credential-provider writes dest man, already written by component crio-man-pages",
    ),
    "members differ per architecture": (
        lambda t: _replace(
            t,
            'cni-plugins-linux-arm64-v1.9.1.tgz"\nsha256 = "56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec"\n'
            'members = ["./bandwidth", ',
            'cni-plugins-linux-arm64-v1.9.1.tgz"\nsha256 = "56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec"\n'
            'members = [',
        ),
        r"cni-plugins takes different archive members per architecture",
    ),
}


def copy_path(tmp_path: Path) -> Path:
    """Where a copy of the spec goes: beside a link to the real files/, so its relative path sources resolve
    (the upstream-layout rule reads which files they hold)."""
    (tmp_path / "files").symlink_to(PRODUCTION_SPEC.parent.parent / "files")
    (tmp_path / "specs").mkdir()
    return tmp_path / "specs" / "production.toml"


def _mutated(tmp_path: Path, mutation: str) -> Path:
    edit, _expected = MUTATIONS[mutation]
    mutated = edit(TEXT)
    assert mutated != TEXT
    path = copy_path(tmp_path)
    path.write_text(mutated, encoding="utf-8")
    return path


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutated_copy_is_rejected(mutation: str, tmp_path: Path) -> None:
    path = _mutated(tmp_path, mutation)
    with pytest.raises(CrioError) as info:
        check_production_spec(path)
    assert info.value.exit_code == ExitCode.SPEC
    assert re.search(MUTATIONS[mutation][1], info.value.message), info.value.message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_bundle_refuses_a_mutated_copy_before_writing_anything(mutation: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The pin rules are a step of `crio-release bundle`: the broken spec fails it, --out stays empty."""
    path, out = _mutated(tmp_path, mutation), tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        run_main(cli, ["bundle", "--rev", "v1.36.1", "--spec", str(path), "--out", str(out),
                       "--source-date-epoch", "0", "--nix-result", str(tmp_path / "no-nix-needed")])
    err = capsys.readouterr().err
    assert exited.value.code == ExitCode.SPEC, err
    assert len(err.strip().splitlines()) == 1 and re.search(MUTATIONS[mutation][1], err), err
    assert not out.exists()


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"schema": 1, "nix": [], "component": "x"},
        {"schema": 1, "nix": {"nixpkgs": {"url": 5}, "crio-source": {"tag": 3}},
         "component": [5, {"name": 7, "dest": [], "source": {"amd64": "x", "arm64": {"url": "https://h/f", "members": "x"}}}]},
        {"schema": 1, "nix": {"nixpkgs": {"url": 5}, "crio-source": {"tag": 3, "rev": [], "url": None}},
         "component": [{"name": "crio", "version": "1", "license": "MIT", "dest": "bin/crio", "mode": "0755",
                        "source": {"amd64": {"nix": "arm64", "members": ["bin/crio", "x/crio2"]}}}]},
    ],
    ids=["empty", "wrong-types", "garbage-values", "garbage-pins"],
)
def test_malformed_specs_give_one_line_errors_or_problems_not_exceptions(spec: dict) -> None:
    try:
        problems = production_problems(parse_spec(spec, Path("production.toml")))
    except CrioError as exc:
        assert exc.exit_code == ExitCode.SPEC and "\n" not in exc.message
        return
    assert problems and all(isinstance(p, str) and "\n" not in p for p in problems)


def test_a_nix_source_outside_crio_and_pinns_must_name_its_own_architecture(tmp_path: Path) -> None:
    extra = ('[[component]]\nname = "conmon-rs"\nversion = "0.8.0"\nlicense = "Apache-2.0"\n'
             'dest = "bin/conmonrs"\nmode = "0755"\n[component.source.amd64]\nnix = "arm64"\nmember = "bin/conmonrs"\n'
             '[component.source.arm64]\nnix = "arm64"\nmember = "bin/conmonrs"\n')
    path = copy_path(tmp_path)
    # The added component fills the spec's only upstream gap, which would then be stale.
    no_gap = re.sub(r'\n\[upstream_gaps\]\n"bin/conmonrs" = "[^"\n]+"\n', "\n", TEXT)
    assert no_gap != TEXT
    path.write_text(no_gap + "\n" + extra, encoding="utf-8")
    assert production_problems(load_spec(path)) == [
        "component conmon-rs source.amd64 takes nix attribute 'arm64'; it must be 'amd64'"]


def test_unparsable_copy_is_one_line_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "production.toml"
    path.write_text(_replace(TEXT, 'name = "runc"', 'name = "runc'), encoding="utf-8")
    with pytest.raises(CrioError) as info:
        load_spec(path)
    assert info.value.exit_code == ExitCode.SPEC
    assert "line" in str(info.value) and "\n" not in str(info.value)


def test_unmutated_copy_round_trips(tmp_path: Path) -> None:
    # The mutation harness itself: the untouched text written to a temporary
    # file is accepted, so each rejection above is due to its one edit.
    path = copy_path(tmp_path)
    path.write_text(TEXT, encoding="utf-8")
    assert production_problems(load_spec(path)) == []
