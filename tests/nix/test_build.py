"""Real `nix-build`s of a small local derivation (no nixpkgs), through the `nix` source kind.

tests/nix/fixtures/local/default.nix has nix/default.nix's attributes and
output layout, both taken from nix/pins.nix, but copies prebuilt tiny static
ELF files (written here) instead of compiling CRI-O.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from crio_release.build.nix import nix_member, nix_output
from helpers.nix import LOCAL_NIX, NO_CACHE, make_elf, needs_nix, write_nix_spec

from crio.errors import CrioError, ExitCode

pytestmark = needs_nix

MEMBERS = ("bin/crio", "bin/pinns")


def _build(attr: str, spec: Path, elves: Path) -> Path:
    return nix_output(attr, nix_dir=LOCAL_NIX, spec=spec, args={"elves": str(elves)})


def test_nix_build_gives_per_architecture_outputs(inputs) -> None:
    spec, elves, written = inputs
    outputs = {attr: _build(attr, spec, elves) for attr in ("amd64", "arm64")}
    assert outputs["amd64"] != outputs["arm64"]
    for attr, out in outputs.items():
        assert out.is_relative_to("/nix/store")
        assert f"cri-o-static-{attr}-1.34.2" in out.name
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == list(MEMBERS)
        for member in MEMBERS:
            path = nix_member(attr, member, attr, nix_dir=LOCAL_NIX, spec=spec, args={"elves": str(elves)})
            assert path == out / member
            assert path.read_bytes() == written[attr][member]


def test_an_existing_result_is_used_without_building(inputs, tmp_path) -> None:
    spec, elves, _ = inputs
    results = tmp_path / "results"
    results.mkdir()
    for attr in ("amd64", "arm64"):
        subprocess.run(
            ["nix-build", str(LOCAL_NIX), "-A", attr, "-o", str(results / f"result-{attr}"), *NO_CACHE,
             "--argstr", "spec", str(spec), "--argstr", "elves", str(elves)],
            check=True, capture_output=True,
        )
    built = _build("arm64", spec, elves)
    # A directory of result-<attr> links: no nix-dir needed at all.
    assert nix_output("arm64", nix_dir=tmp_path / "absent", nix_result=results) == built
    # The output directory itself.
    assert nix_output("arm64", nix_dir=tmp_path / "absent", nix_result=built) == built
    # ...of which check_static_elf refuses the other architecture's use.
    with pytest.raises(CrioError) as err:
        nix_member("amd64", "bin/crio", "amd64", nix_dir=tmp_path / "absent", nix_result=built)
    assert err.value.exit_code == ExitCode.ELF_MACHINE
    assert err.value.message.startswith("nix attribute amd64: bin/crio: ELF machine 183 (arm64)")


def test_a_failed_build_is_one_line_naming_the_attribute(inputs) -> None:
    spec, elves, _ = inputs
    (elves / "arm64" / "bin" / "pinns").unlink()  # the builder's cp fails
    with pytest.raises(CrioError) as err:
        _build("arm64", spec, elves)
    assert err.value.exit_code == ExitCode.BUILD
    message = err.value.message
    assert message.startswith(f"nix attribute arm64: nix-build {LOCAL_NIX} failed (exit 100): builder for ")
    assert "cri-o-static-arm64-1.34.2.drv' failed with exit code 1; last log line: cp: cannot stat" in message
    assert "\n" not in message
    assert _build("amd64", spec, elves).is_dir()  # the other attribute still builds


def test_a_pin_mismatch_fails_the_build_naming_the_attribute(tmp_path, inputs) -> None:
    _, elves, _ = inputs
    spec = write_nix_spec(tmp_path / "bad.toml", tag="v1.34.2", crio_version="1.34.1")
    with pytest.raises(CrioError) as err:
        _build("amd64", spec, elves)
    assert err.value.exit_code == ExitCode.BUILD
    assert "nix attribute amd64" in err.value.message
    assert 'component crio version "1.34.1" differs from nix.crio-source.tag "v1.34.2"' in err.value.message


def test_an_unknown_attribute_is_refused(inputs) -> None:
    spec, elves, _ = inputs
    with pytest.raises(CrioError) as err:
        _build("ppc64le", spec, elves)
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message.startswith("nix attribute ppc64le: ")
    assert "ppc64le" in err.value.message.split(": ", 1)[1]


@pytest.mark.parametrize(
    ("attr", "member", "data", "code", "needle"),
    [
        ("arm64", "bin/crio", make_elf("amd64"), ExitCode.ELF_MACHINE, "ELF machine 62 (amd64), expected 183 (arm64)"),
        ("amd64", "bin/pinns", make_elf("amd64", interp="/lib64/ld-linux-x86-64.so.2"), ExitCode.BUILD,
         "dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2)"),
        ("amd64", "bin/crio", make_elf("amd64", needed=3), ExitCode.BUILD, "dynamically linked (3 DT_NEEDED"),
    ],
    ids=["wrong-arch", "interpreter", "needed"],
)
def test_a_wrong_output_is_refused_naming_the_attribute(inputs, attr, member, data, code, needle) -> None:
    spec, elves, _ = inputs
    (elves / attr / member).write_bytes(data)
    with pytest.raises(CrioError) as err:
        nix_member(attr, member, attr, nix_dir=LOCAL_NIX, spec=spec, args={"elves": str(elves)})
    assert err.value.exit_code == code
    assert err.value.message.startswith(f"nix attribute {attr}: {member}: ")
    assert needle in err.value.message


def test_a_missing_member_is_refused(inputs) -> None:
    spec, elves, _ = inputs
    with pytest.raises(CrioError) as err:
        nix_member("amd64", "bin/conmon", "amd64", nix_dir=LOCAL_NIX, spec=spec, args={"elves": str(elves)})
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message.startswith("nix attribute amd64: output /nix/store/")
    assert "has no member bin/conmon" in err.value.message


def test_without_nix_build_on_path_it_says_what_to_do(inputs, tmp_path, monkeypatch) -> None:
    spec, elves, _ = inputs
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(CrioError) as err:
        _build("amd64", spec, elves)
    assert err.value.exit_code == ExitCode.MISSING_TOOL
    assert "nix-build not found" in err.value.message and "--nix-result" in err.value.message


def test_a_bad_nix_result_dir_is_refused(tmp_path) -> None:
    with pytest.raises(CrioError) as err:
        nix_output("amd64", nix_dir=LOCAL_NIX, nix_result=tmp_path / "nope")
    assert err.value.exit_code == ExitCode.BUILD
    assert err.value.message == f"nix attribute amd64: nix result {tmp_path / 'nope'} is not a directory"
