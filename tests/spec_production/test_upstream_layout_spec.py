"""The upstream-layout rule of specs: a bundle for upstream's install script holds every path it reads.

The production spec must yield them all but the gap it names (conmon-rs); each way a copy of it can lose
one is refused with ExitCode.SPEC by the pin rules and by `crio-release bundle` before anything is
written; a non-production spec asking for the layout gets the same rule; a component's `provides` is held
to what the build really yields.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from crio_release.build.bundle import build_bundles
from crio_release.build.layout import spec_paths, upstream_layout_problems
from crio_release.build.pins import PRODUCTION_SPEC, check_production_spec
from crio_release.build.spec import load_spec
from crio_release.cli import cli
from helpers.bundles import fake_elf, write_spec
from helpers.upstream_layout import write_layout_spec

from crio.bundle_layout import UPSTREAM_INSTALL_READS, missing_upstream_paths
from crio.cli import run_main
from crio.errors import CrioError, ExitCode
from crio.revision import parse_revision

TEXT = PRODUCTION_SPEC.read_text(encoding="utf-8")
GAP = re.compile(r'\n\[upstream_gaps\]\n"bin/conmonrs" = "[^"\n]+"\n')


def copy_path(tmp_path: Path) -> Path:
    """A copy's place beside a link to the real files/, so its relative path sources resolve."""
    (tmp_path / "files").symlink_to(PRODUCTION_SPEC.parent.parent / "files")
    (tmp_path / "specs").mkdir()
    return tmp_path / "specs" / "production.toml"


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_production_yields_every_upstream_path_but_its_named_gap() -> None:
    spec = load_spec(PRODUCTION_SPEC)
    assert spec.upstream_layout and dict(spec.upstream_gaps).keys() == {"bin/conmonrs"}
    paths = spec_paths(spec)
    assert set(paths) == {"amd64", "arm64"}
    for arch_paths in paths.values():
        assert missing_upstream_paths(arch_paths) == ["bin/conmonrs"]
    assert upstream_layout_problems(spec) == []


MUTATIONS = {
    "gap-removed": (lambda t: GAP.sub("\n", t), r"no component writes cri-o/bin/conmonrs \(amd64\)"),
    "gap-not-upstream": (lambda t: _replace(t, '[upstream_gaps]\n', '[upstream_gaps]\n"bin/foo" = "x"\n'),
                         r"upstream_gaps names 'bin/foo', which upstream's install script does not read"),
    "gap-without-reason": (lambda t: GAP.sub('\n[upstream_gaps]\n"bin/conmonrs" = " "\n', t),
                           r"upstream_gaps\.'bin/conmonrs' must give the reason"),
    "credential-provider-renamed": (
        lambda t: _replace(t, 'dest = "bin/crio-credential-provider"', 'dest = "bin/crio-credentials"'),
        r"no component writes cri-o/bin/crio-credential-provider"),
    "cni-plugins-elsewhere": (lambda t: _replace(t, 'dest = "cni-plugins"', 'dest = "plugins"'),
                              r"no component writes cri-o/cni-plugins/ \(amd64\)"),
    "completions-not-declared": (
        lambda t: _replace(t, 'provides = ["completions/bash/crio", "completions/fish/crio.fish", '
                              '"completions/zsh/_crio"]\n', ""),
        r"no component writes cri-o/completions/bash/crio"),
    "man-page-dropped": (
        lambda t: t.replace('"share/man/man8/crio.8", ', ""),
        r"no component writes cri-o/man/crio\.8"),
    "provides-outside-dest": (
        lambda t: _replace(t, 'provides = ["completions/bash/crio"', 'provides = ["man/crio"'),
        r"provides 'man/crio' is not below the component's dest completions/"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_copy_missing_an_upstream_path_is_refused(mutation: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    edit, expected = MUTATIONS[mutation]
    path = copy_path(tmp_path)
    path.write_text(edit(TEXT), encoding="utf-8")
    assert path.read_text() != TEXT
    with pytest.raises(CrioError) as info:
        check_production_spec(path)
    assert info.value.exit_code == ExitCode.SPEC
    assert re.search(expected, info.value.message), info.value.message
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        run_main(cli, ["bundle", "--rev", "v1.36.1", "--spec", str(path), "--out", str(out),
                       "--source-date-epoch", "0", "--nix-result", str(tmp_path / "no-nix-needed")])
    err = capsys.readouterr().err
    assert exited.value.code == ExitCode.SPEC == 20, err
    assert len(err.strip().splitlines()) == 1 and re.search(expected, err), err
    assert not out.exists()


def test_an_unmutated_copy_passes(tmp_path: Path) -> None:
    path = copy_path(tmp_path)
    path.write_text(TEXT, encoding="utf-8")
    check_production_spec(path)


def test_a_test_spec_asking_for_the_layout_gets_the_rule(tmp_path: Path) -> None:
    spec = write_layout_spec(tmp_path / "spec")
    assert upstream_layout_problems(load_spec(spec)) == []
    text = spec.read_text()
    broken = spec.with_name("broken.toml")
    broken.write_text(_replace(text, 'dest = "bin/runc"', 'dest = "bin/runc.amd64"'))
    with pytest.raises(CrioError) as info:
        build_bundles(broken, ["amd64"], parse_revision("v1.36.1"), tmp_path / "out", source_date_epoch=0)
    assert info.value.exit_code == ExitCode.SPEC
    assert "no component writes cri-o/bin/runc (amd64)" in info.value.message
    assert not (tmp_path / "out").exists()
    # The same spec without asking for the layout builds: the rule is what refused it.
    relaxed = spec.with_name("relaxed.toml")
    relaxed.write_text(_replace(broken.read_text(), "upstream_layout = true\n", ""))
    result = build_bundles(relaxed, ["amd64"], parse_revision("v1.36.1"), tmp_path / "out2", source_date_epoch=0)
    assert result.bundles["amd64"].tarball.path.is_file()


def test_specs_that_do_not_ask_are_not_held_to_it(tmp_path: Path) -> None:
    fake_elf(tmp_path / "crun", 62)
    spec = write_spec(tmp_path / "spec.toml", 'upstream_layout = false\n[[component]]\nname = "crun"\n'
                      'version = "1"\nlicense = "MIT"\ndest = "bin/crun"\nmode = "0755"\n'
                      '[component.source.amd64]\npath = "crun"\n')
    assert not load_spec(spec).upstream_layout
    assert len(upstream_layout_problems(load_spec(spec))) == len(UPSTREAM_INSTALL_READS) - 1


def test_a_provided_path_the_build_does_not_yield_is_refused(tmp_path: Path) -> None:
    (tmp_path / "docs/bash").mkdir(parents=True)
    (tmp_path / "docs/bash/crio").write_text("# completion\n")
    body = ('[[component]]\nname = "docs"\nversion = "1"\nlicense = "MIT"\ndest = "completions"\nmode = "0644"\n'
            'provides = ["completions/bash/crio", "completions/zsh/_crio"]\n[component.source.all]\npath = "docs"\n')
    spec = write_spec(tmp_path / "spec.toml", body)
    with pytest.raises(CrioError) as info:
        build_bundles(spec, ["amd64"], parse_revision("v1.36.1"), tmp_path / "out", source_date_epoch=0)
    assert info.value.exit_code == ExitCode.SPEC
    assert info.value.message == ("component docs declares it provides cri-o/completions/zsh/_crio, but its "
                                  "source did not yield that file")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
