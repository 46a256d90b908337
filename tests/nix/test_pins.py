"""nix/pins.nix (the pure half of the build) against what Python reads from the same TOML.

Both sides must accept a consistent spec with the same values, and both must
refuse a spec whose pins disagree (crio version vs the crio-source tag, ...).
"""

from __future__ import annotations

import json
import tomllib

import pytest
from crio_release.build.pins import NIX_ATTRIBUTES, NIX_MEMBERS, nix_pins
from crio_release.build.spec import load_spec
from helpers.nix import NIX_DIR, REPO, needs_nix, nix_eval_json, write_nix_spec

from crio.arch import DEFAULT_BUILD_ARCHITECTURES, ELF_MACHINES, normalize_arch
from crio.errors import CrioError, ExitCode

pytestmark = needs_nix

PINS = str(NIX_DIR / "pins.nix")
PRODUCTION_SPEC = REPO / "release" / "crio_release" / "build" / "specs" / "production.toml"


def _eval_pins(spec) -> dict:
    proc = nix_eval_json(PINS, "--argstr", "spec", str(spec))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _assert_same_as_python(nix: dict, spec) -> None:
    raw = tomllib.loads(spec.read_text())
    py = nix_pins(load_spec(spec))
    assert nix["nixpkgs"] == {k: raw["nix"]["nixpkgs"][k] for k in ("url", "sha256")} == py.nixpkgs
    assert nix["crioSource"] == {k: raw["nix"]["crio-source"][k] for k in py.crio_source} == py.crio_source
    assert nix["version"] == py.version == raw["nix"]["crio-source"]["tag"].removeprefix("v")
    assert nix["components"] == py.components
    crio = next(c for c in raw["component"] if c["name"] == "crio")
    assert nix["components"]["crio"]["version"] == crio["version"]
    for arch in NIX_ATTRIBUTES:
        for name, member in NIX_MEMBERS.items():
            comp = next(c for c in raw["component"] if c["name"] == name)
            assert comp["source"][arch] == {"nix": arch, "member": member}
            assert nix["components"][name]["sources"][arch] == comp["source"][arch]


def test_pins_agree_with_python_on_a_consistent_spec(tmp_path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", tag="v1.34.2")
    nix = _eval_pins(spec)
    _assert_same_as_python(nix, spec)
    assert nix["version"] == "1.34.2"
    assert nix["sourceDateEpoch"] == 0


def test_the_tag_may_stand_in_for_an_unknown_commit(tmp_path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", tag="v1.36.1", rev="v1.36.1")
    nix = _eval_pins(spec)
    _assert_same_as_python(nix, spec)
    assert nix["crioSource"]["rev"] == "v1.36.1"
    assert nix["crioSource"]["url"].endswith("/v1.36.1.tar.gz")


def test_a_changed_pin_changes_what_nix_reads(tmp_path) -> None:
    a = _eval_pins(write_nix_spec(tmp_path / "a.toml", tag="v1.34.2"))
    b = _eval_pins(write_nix_spec(tmp_path / "b.toml", tag="v1.35.0", rev="f" * 40))
    assert (a["version"], b["version"]) == ("1.34.2", "1.35.0")
    assert b["crioSource"]["rev"] == "f" * 40 != a["crioSource"]["rev"]


def test_attribute_names_systems_and_elf_machines_match_crio_arch(tmp_path) -> None:
    nix = _eval_pins(write_nix_spec(tmp_path / "spec.toml"))
    assert tuple(nix["attributes"]) == NIX_ATTRIBUTES == DEFAULT_BUILD_ARCHITECTURES
    assert sorted(nix["architectures"]) == sorted(NIX_ATTRIBUTES)
    for attr, entry in nix["architectures"].items():
        # x86_64-linux -> amd64, aarch64-linux -> arm64: the system is the attribute's architecture.
        assert normalize_arch(entry["system"].removesuffix("-linux")) == attr
        assert normalize_arch(entry["config"].split("-")[0]) == attr
        assert entry["config"].endswith("-linux-musl")  # static builds are musl
        assert entry["elfMachine"] == ELF_MACHINES[attr]
    assert sorted(nix["members"]) == sorted(NIX_MEMBERS.values())
    assert nix["outputs"] == NIX_MEMBERS


def test_default_nix_exposes_the_attributes_without_fetching_nixpkgs(tmp_path) -> None:
    """attrNames of nix/default.nix are known from the pure pins alone (nothing fetched here)."""
    spec = write_nix_spec(tmp_path / "spec.toml")
    expr = f"builtins.attrNames (import {NIX_DIR}/default.nix {{ spec = {json.dumps(str(spec))}; }})"
    proc = nix_eval_json("--expr", expr)
    assert proc.returncode == 0, proc.stderr
    assert tuple(json.loads(proc.stdout)) == NIX_ATTRIBUTES


# The two directions: a mismatched pin fails in nix AND in Python.
MISMATCHES = {
    "crio-version-differs-from-tag": ({"crio_version": "1.34.3"}, "component crio version"),
    "pinns-version-differs-from-tag": ({"pinns_version": "1.33.0"}, "component pinns version"),
    "tag-without-v": ({"tag": "1.34.2", "crio_version": "1.34.2", "pinns_version": "1.34.2"}, "must start with v"),
    "rev-neither-commit-nor-tag": ({"rev": "main"}, "is neither a 40-hex commit nor the tag"),
    "url-of-another-rev": ({"url": "https://github.com/cri-o/cri-o/archive/v1.0.0.tar.gz"}, "must end with"),
    "hash-not-a-nix-hash": ({"nixpkgs_sha256": "sha256:deadbeef"}, "is not a nix sha256"),
    "amd64-takes-arm64-output": ({"source_attrs": {"amd64": "arm64", "arm64": "arm64"}}, "source.amd64 must be nix"),
    "arm64-source-missing": ({"source_attrs": {"amd64": "amd64"}}, "arm64"),
}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_a_pin_mismatch_fails_nix_evaluation(tmp_path, case) -> None:
    kwargs, needle = MISMATCHES[case]
    spec = write_nix_spec(tmp_path / "spec.toml", **kwargs)
    proc = nix_eval_json(PINS, "--argstr", "spec", str(spec))
    assert proc.returncode != 0
    assert needle in proc.stderr
    assert str(spec) in proc.stderr  # the error names the spec file


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_a_pin_mismatch_fails_the_python_check(tmp_path, case) -> None:
    kwargs, needle = MISMATCHES[case]
    spec = write_nix_spec(tmp_path / "spec.toml", **kwargs)
    with pytest.raises(CrioError) as err:
        nix_pins(load_spec(spec))
    assert err.value.exit_code == ExitCode.SPEC
    assert needle in err.value.message
    assert "\n" not in err.value.message


def test_a_pin_mismatch_stops_default_nix_before_any_fetch(tmp_path) -> None:
    spec = write_nix_spec(tmp_path / "spec.toml", crio_version="9.9.9")
    proc = nix_eval_json(f"{NIX_DIR}/default.nix", "--argstr", "spec", str(spec), "-A", "amd64.name")
    assert proc.returncode != 0
    assert "component crio version" in proc.stderr
    assert "download" not in proc.stderr and "fetch" not in proc.stderr.lower()


def test_the_production_spec_pins_are_consistent() -> None:
    """The real spec (the default of nix/pins.nix) evaluates, and nix and Python read the same pins."""
    assert PRODUCTION_SPEC.is_file(), f"{PRODUCTION_SPEC} is missing"
    proc = nix_eval_json("--expr", f"import {PINS} {{ }}")  # no spec argument: the default path
    assert proc.returncode == 0, proc.stderr
    _assert_same_as_python(json.loads(proc.stdout), PRODUCTION_SPEC)
