"""Where the released repository keeps its version: configured version sources, read and bumped together.

A repository says where its version lives in `.crio-release.toml` at its root
or in `[tool.crio-release]` of its `pyproject.toml`::

    [[version]]                      # pyproject.toml: [[tool.crio-release.version]]
    file = "internal/version/version.go"
    kind = "go-const"                # line | go-const | regex
    name = "Version"                 # go-const only (default Version)
    # regex = 'VERSION := (\\S+)'    # regex only: exactly one group, the version

Without configuration, a repository laid out like CRI-O (a `const Version` in
`internal/version/version.go`) is detected; anything else uses this project's
one-line `crio/VERSION`. Every source is read from a commit's tree (never the
work tree), all must agree, and a bump rewrites only the version text of each
file, all in one commit. Errors name the file and describe the expected line;
they never quote a file's content beyond that one line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

import git

from crio.errors import CrioError, ExitCode
from crio.revision import Version
from crio_release.gitrel.repo import file_at, refused

#: This project's own version file: one line MAJOR.MINOR.PATCH.
DEFAULT_VERSION_FILE = "crio/VERSION"
#: CRI-O's layout, detected without configuration.
CRIO_GO_VERSION_FILE = "internal/version/version.go"
CONFIG_FILE = ".crio-release.toml"
PYPROJECT = "pyproject.toml"
KINDS = ("line", "go-const", "regex")
_QUOTE_LIMIT = 120


class SourceError(ValueError):
    """A version source does not hold what it should; the message never contains the whole file."""


def _quote(line: str) -> str:
    line = line.strip()
    return repr(line if len(line) <= _QUOTE_LIMIT else line[:_QUOTE_LIMIT] + "…")


@dataclass(frozen=True)
class VersionSource:
    """One file holding the version, and how it is written there."""

    path: str
    kind: str = "line"
    name: str = "Version"
    regex: str | None = None

    def expected(self) -> str:
        """The line this source expects, for error messages."""
        if self.kind == "line":
            return "one line MAJOR.MINOR.PATCH"
        if self.kind == "go-const":
            return f'a line `const {self.name} = "MAJOR.MINOR.PATCH"`'
        return f"one line matching /{self.regex}/"

    def _pattern(self) -> re.Pattern[str]:
        if self.kind == "go-const":
            name = re.escape(self.name)
            return re.compile(rf'^[ \t]*(?:const[ \t]+)?{name}(?:[ \t]+string)?[ \t]*=[ \t]*"([^"\n]*)"', re.M)
        assert self.regex is not None
        return re.compile(self.regex, re.M)

    def span(self, text: str) -> tuple[int, int]:
        """Where the version text is in TEXT (start, end); SourceError when not exactly once."""
        if self.kind == "line":
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) != 1:
                raise SourceError(f"expected {self.expected()}, found {len(lines)} non-empty lines")
            start = text.index(lines[0])
            if lines[0] != lines[0].strip():
                raise SourceError(f"expected {self.expected()} without spaces, found {_quote(lines[0])}")
            return start, start + len(lines[0])
        matches = list(self._pattern().finditer(text))
        if not matches:
            raise SourceError(f"expected {self.expected()}, found none")
        if len(matches) > 1:
            lines = ", ".join(str(text.count("\n", 0, m.start()) + 1) for m in matches)
            raise SourceError(f"expected {self.expected()}, found {len(matches)} (lines {lines})")
        return matches[0].span(1)

    def read(self, text: str) -> Version:
        start, end = self.span(text)
        value = text[start:end]
        try:
            return Version.parse(value)
        except CrioError:
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", end)
            line = text[line_start:line_end if line_end >= 0 else len(text)]
            raise SourceError(f"expected {self.expected()}, found {_quote(line)}") from None

    def write(self, text: str, version: Version) -> str:
        """TEXT with only the version replaced (a leading `v` kept when the file uses one)."""
        start, end = self.span(text)
        prefix = "v" if text[start:end].startswith("v") else ""
        return f"{text[:start]}{prefix}{version}{text[end:]}"


@dataclass(frozen=True)
class VersionConfig:
    """The version sources of a commit and where that choice came from (for messages)."""

    sources: tuple[VersionSource, ...]
    origin: str

    @property
    def label(self) -> str:
        return ", ".join(s.path for s in self.sources)


def source_for_path(path: str) -> VersionSource:
    """--version-file PATH: a Go file holds `const Version`, anything else one line."""
    return VersionSource(path, "go-const") if path.endswith(".go") else VersionSource(path)


def parse_sources(entries: Any, where: str) -> tuple[VersionSource, ...]:
    """The `version` list of a configuration table; every mistake names WHERE and what is accepted."""
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise refused(f"{where}: `version` must be a list of tables with file = and kind =")
    sources = []
    for i, entry in enumerate(entries, 1):
        label = f"{where}: version entry {i}"
        if not isinstance(entry, dict):
            raise refused(f"{label} is not a table")
        unknown = sorted(set(entry) - {"file", "kind", "name", "regex"})
        if unknown:
            raise refused(f"{label} has unknown key(s) {', '.join(unknown)}; accepted: file, kind, name, regex")
        path, kind = entry.get("file"), entry.get("kind", "line")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise refused(f"{label}: file must be a path inside the repository, such as crio/VERSION")
        if kind not in KINDS:
            raise refused(f"{label}: kind {kind!r} is not one of {', '.join(KINDS)}")
        name, regex = entry.get("name", "Version"), entry.get("regex")
        if kind == "go-const" and not (isinstance(name, str) and name.isidentifier()):
            raise refused(f"{label}: name must be a Go identifier such as Version")
        if kind == "regex":
            _check_regex(regex, label)
        sources.append(VersionSource(path, kind, name, regex if kind == "regex" else None))
    return tuple(sources)


def _check_regex(regex: Any, label: str) -> None:
    if not isinstance(regex, str):
        raise refused(f"{label}: kind regex needs regex = '...' with one group for the version")
    try:
        groups = re.compile(regex).groups
    except re.error as exc:
        raise refused(f"{label}: regex does not compile: {exc}") from None
    if groups != 1:
        raise refused(f"{label}: regex has {groups} groups; it needs exactly one, the version")


def _toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise refused(f"{where} is not valid TOML: {exc}") from None


def load_config(repo: git.Repo, sha: str, override: str | None = None) -> VersionConfig:
    """The version sources at commit SHA: --version-file, else configuration, else detection, else default."""
    if override:
        return VersionConfig((source_for_path(override),), "--version-file")
    found = file_at(repo, sha, CONFIG_FILE)
    if found is not None:
        data = _toml(found[0], CONFIG_FILE)
        if "version" in data:
            return VersionConfig(parse_sources(data["version"], CONFIG_FILE), CONFIG_FILE)
    found = file_at(repo, sha, PYPROJECT)
    if found is not None and "crio-release" in found[0]:
        table = _toml(found[0], PYPROJECT).get("tool", {}).get("crio-release", {})
        if "version" in table:
            where = f"{PYPROJECT} [tool.crio-release]"
            return VersionConfig(parse_sources(table["version"], where), where)
    if file_at(repo, sha, CRIO_GO_VERSION_FILE) is not None:
        return VersionConfig((VersionSource(CRIO_GO_VERSION_FILE, "go-const"),), "detected CRI-O layout")
    return VersionConfig((VersionSource(DEFAULT_VERSION_FILE),), "default")


def _text_of(repo: git.Repo, sha: str, source: VersionSource, config: VersionConfig, label: str) -> tuple[str, str]:
    found = file_at(repo, sha, source.path)
    if found is None:
        hint = ("configure the version sources in .crio-release.toml or pass --version-file PATH"
                if config.origin in ("default", "--version-file") else f"version sources from {config.origin}")
        raise refused(f"{label} has no version file {source.path}; {hint}")
    return found


def read_version(repo: git.Repo, sha: str, config: VersionConfig, label: str = "") -> Version:
    """The version every source says at SHA; refuses when one is missing, malformed, or they disagree."""
    label = label or sha[:12]
    said: dict[str, Version] = {}
    for source in config.sources:
        text, _mode = _text_of(repo, sha, source, config, label)
        try:
            said[source.path] = source.read(text)
        except SourceError as exc:
            raise refused(f"{source.path} at {label}: {exc}") from None
    if len(set(said.values())) > 1:
        listed = ", ".join(f"{path} says {v}" for path, v in said.items())
        raise refused(f"the version sources at {label} disagree: {listed}; make them equal first")
    return next(iter(said.values()))


def bumped_files(repo: git.Repo, sha: str, config: VersionConfig,
                 version: Version) -> tuple[dict[str, str], dict[str, str]]:
    """(path -> new text, path -> mode) of every source at SHA rewritten to VERSION."""
    files: dict[str, str] = {}
    modes: dict[str, str] = {}
    for source in config.sources:
        text, mode = _text_of(repo, sha, source, config, sha[:12])
        text = files.get(source.path, text)  # two sources in one file: both edits land
        try:
            files[source.path] = source.write(text, version)
        except SourceError as exc:
            raise CrioError(f"{source.path} at {sha[:12]}: {exc}", ExitCode.REFUSED) from None
        modes[source.path] = mode
    return files, modes
