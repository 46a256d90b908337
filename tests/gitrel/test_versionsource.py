"""Version sources as configuration: defaults, CRI-O's Go constant, regexes, several files bumped in one commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from crio_release.gitrel.repo import open_repo
from crio_release.gitrel.versionsource import (
    SourceError,
    VersionSource,
    bumped_files,
    load_config,
    read_version,
)
from helpers.gitrel import (
    commit_file,
    crio_release,
    git,
    go_version_file,
    make_crio_like_origin_and_clone,
    make_origin_and_clone,
)

from crio.errors import ExitCode
from crio.revision import Version


def test_go_constant_is_read_and_rewritten_in_place() -> None:
    source = VersionSource("internal/version/version.go", "go-const")
    text = go_version_file("1.36.3")
    assert source.read(text) == Version(1, 36, 3)
    bumped = source.write(text, Version(1, 36, 4))
    assert bumped == text.replace('"1.36.3"', '"1.36.4"')
    # inside a const block, with an explicit type, and a v prefix kept
    block = 'const (\n\tName = "crio"\n\tVersion string = "v1.2.3"\n)\n'
    assert source.read(block) == Version(1, 2, 3)
    assert 'Version string = "v1.2.4"' in source.write(block, Version(1, 2, 4))
    # another name, and names that only contain Version do not match
    assert VersionSource("v.go", "go-const", "BaseVersion").read('const BaseVersion = "2.0.0"\n') == Version(2, 0, 0)
    with pytest.raises(SourceError, match=r"expected a line `const Version .*, found none"):
        source.read('const GitVersion = "1.0.0"\n')


def test_errors_quote_at_most_one_line_never_the_file() -> None:
    long_go = go_version_file("1.36.3", padding=300).replace("const Version", "const Verzion")
    assert len(long_go) > 8000
    with pytest.raises(SourceError) as info:
        VersionSource("internal/version/version.go", "go-const").read(long_go)
    assert str(info.value) == 'expected a line `const Version = "MAJOR.MINOR.PATCH"`, found none'
    with pytest.raises(SourceError) as info:
        VersionSource("internal/version/version.go").read(long_go)  # read as a one-line file
    assert str(info.value).startswith("expected one line MAJOR.MINOR.PATCH, found ")
    assert "package" not in str(info.value)
    bad = go_version_file("1.36.x")
    with pytest.raises(SourceError) as info:
        VersionSource("v.go", "go-const").read(bad)
    assert str(info.value) == "expected a line `const Version = \"MAJOR.MINOR.PATCH\"`, found 'const Version = \"1.36.x\"'"
    twice = 'const Version = "1.0.0"\n\nconst Version = "1.0.1"\n'
    with pytest.raises(SourceError, match=r"found 2 \(lines 1, 3\)$"):
        VersionSource("v.go", "go-const").read(twice)


def test_regex_source() -> None:
    source = VersionSource("Makefile", "regex", regex=r"^VERSION \?= (\S+)$")
    text = "NAME = crio\nVERSION ?= 1.36.3\nall:\n\ttrue\n"
    assert source.read(text) == Version(1, 36, 3)
    assert source.write(text, Version(1, 37, 0)) == text.replace("1.36.3", "1.37.0")


def _repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    remote = make_origin_and_clone(tmp_path, "1.36.0")
    for path, text in files.items():
        commit_file(remote.clone, path, text, f"add {path}")
    return remote.clone


def test_configuration_precedence(tmp_path: Path) -> None:
    repo_path = _repo_with(tmp_path, {"internal/version/version.go": go_version_file("1.36.0")})
    repo = open_repo(repo_path)
    head = git(repo_path, "rev-parse", "HEAD")
    assert load_config(repo, head).origin == "detected CRI-O layout"
    assert load_config(repo, head, "crio/VERSION").sources == (VersionSource("crio/VERSION"),)
    assert load_config(repo, head, "x/v.go").sources[0].kind == "go-const"
    commit_file(repo_path, "pyproject.toml", '[project]\nname = "x"\n\n[[tool.crio-release.version]]\n'
                'file = "crio/VERSION"\n', "pyproject")
    head = git(repo_path, "rev-parse", "HEAD")
    assert load_config(repo, head).origin == "pyproject.toml [tool.crio-release]"
    commit_file(repo_path, ".crio-release.toml", '[[version]]\nfile = "internal/version/version.go"\n'
                'kind = "go-const"\n', "config")
    head = git(repo_path, "rev-parse", "HEAD")
    config = load_config(repo, head)
    assert (config.origin, config.label) == (".crio-release.toml", "internal/version/version.go")
    assert read_version(repo, head, config) == Version(1, 36, 0)


@pytest.mark.parametrize(("config", "message"), [
    ('[[version]]\nfile = "a"\nkind = "yaml"\n', "kind 'yaml' is not one of line, go-const, regex"),
    ('[[version]]\nfile = "a"\nkind = "regex"\nregex = "(a)(b)"\n', "regex has 2 groups; it needs exactly one"),
    ('[[version]]\nfile = "a"\nkind = "regex"\nregex = "(a"\n', "regex does not compile"),
    ('[[version]]\nfile = "a"\npath = "b"\n', "unknown key(s) path; accepted: file, kind, name, regex"),
    ('[[version]]\nfile = "../etc/passwd"\n', "file must be a path inside the repository"),
    ('version = "1.2.3"\n', "`version` must be a list of tables"),
    ('[[version]\nfile = "a"\n', ".crio-release.toml is not valid TOML"),
])
def test_bad_configuration_is_refused_naming_the_file(tmp_path: Path, config: str, message: str) -> None:
    repo_path = _repo_with(tmp_path, {".crio-release.toml": config})
    res = crio_release("branch", "cut", "1.36", "--repo", str(repo_path))
    assert res.code == ExitCode.REFUSED
    assert message in res.err and ".crio-release.toml" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_whole_go_file_as_one_line_version_file_is_a_short_error(tmp_path: Path) -> None:
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.0", config=None)
    commit_file(remote.clone, "internal/version/version.go", go_version_file("1.36.0", padding=300), "grow")
    # pointed at the Go file as a one-line file, as the issue reports: one short line, no Go source in it
    res = crio_release("branch", "cut", "1.36", "--repo", str(remote.clone), "--version-file", "VERSION.go.txt")
    assert res.code == ExitCode.REFUSED and "has no version file VERSION.go.txt" in res.err
    git(remote.clone, "mv", "internal/version/version.go", "version.txt")
    git(remote.clone, "commit", "-q", "-m", "move")
    res = crio_release("branch", "cut", "1.36", "--repo", str(remote.clone), "--version-file", "version.txt")
    assert res.code == ExitCode.REFUSED
    assert res.err.strip() == ("crio-release: error: version.txt at main: expected one line MAJOR.MINOR.PATCH, "
                               "found 610 non-empty lines")
    assert len(res.err) < 200 and "package" not in res.err


def test_several_sources_must_agree_and_are_bumped_in_one_commit(tmp_path: Path) -> None:
    config = ('[[version]]\nfile = "internal/version/version.go"\nkind = "go-const"\n\n'
              '[[version]]\nfile = "Makefile"\nkind = "regex"\nregex = \'^VERSION \\?= (\\S+)$\'\n\n'
              '[[version]]\nfile = "VERSION"\n')
    remote = make_crio_like_origin_and_clone(tmp_path, "1.36.0", config=config)
    repo_path = remote.clone
    commit_file(repo_path, "Makefile", "VERSION ?= 1.36.0\nall:\n\ttrue\n", "make")
    commit_file(repo_path, "VERSION", "1.35.0\n", "stale")
    res = crio_release("branch", "cut", "1.36", "--repo", str(repo_path))
    assert res.code == ExitCode.REFUSED
    assert ("the version sources at main disagree: internal/version/version.go says 1.36.0, Makefile says 1.36.0, "
            "VERSION says 1.35.0") in res.err
    commit_file(repo_path, "VERSION", "1.36.0\n", "fix")
    repo = open_repo(repo_path)
    head = git(repo_path, "rev-parse", "HEAD")
    files, modes = bumped_files(repo, head, load_config(repo, head), Version(1, 37, 0))
    assert files == {"internal/version/version.go": go_version_file("1.37.0"),
                     "Makefile": "VERSION ?= 1.37.0\nall:\n\ttrue\n", "VERSION": "1.37.0\n"}
    assert set(modes.values()) == {"100644"}
    assert crio_release("branch", "cut", "1.36", "--repo", str(repo_path)).code == 0
    assert crio_release("tag", "v1.36.0", "--repo", str(repo_path)).code == 0
    # one commit moved main and touched exactly the three sources
    assert git(repo_path, "diff", "--name-only", "main^", "main").splitlines() == [
        "Makefile", "VERSION", "internal/version/version.go"]
    assert git(repo_path, "show", "main:Makefile").startswith("VERSION ?= 1.37.0\n")


def test_readme_configuration_for_crio_is_what_is_detected(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("# .crio-release.toml (or [[tool.crio-release.version]] in pyproject.toml)\n", 1)[1]
    config = block.split("```", 1)[0]
    for sub in ("a", "b", "c"):
        (tmp_path / sub).mkdir()
    configured = make_crio_like_origin_and_clone(tmp_path / "a", "1.36.3", config=config)
    detected = make_crio_like_origin_and_clone(tmp_path / "b", "1.36.3", config=None)
    a, b = (load_config(open_repo(r.clone), "HEAD") for r in (configured, detected))
    assert a.origin == ".crio-release.toml" and b.origin == "detected CRI-O layout"
    assert a.sources == b.sources
    # the commented second source is a working regex entry once uncommented
    uncommented = "\n".join(line.removeprefix("# ") if (line.startswith("# ") and "=" in line) or line.startswith(
        "# [[") else line for line in config.splitlines())
    repo = _repo_with(tmp_path / "c", {".crio-release.toml": uncommented, "Makefile": "VERSION ?= 1.36.0\n",
                                       "internal/version/version.go": go_version_file("1.36.0")})
    sources = load_config(open_repo(repo), "HEAD").sources
    assert [s.kind for s in sources] == ["go-const", "regex"]
    assert read_version(open_repo(repo), git(repo, "rev-parse", "HEAD"), load_config(open_repo(repo), "HEAD")) \
        == Version(1, 36, 0)
