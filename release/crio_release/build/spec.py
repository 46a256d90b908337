"""The components spec: one TOML file that pins everything a bundle carries.

Why a spec: upstream assembles bundles from unverified downloads and ships no
list of what is inside; here every component, its version, licence, place in
the bundle and per-architecture source is written down once, checked before a
byte is fetched, and copied into the bundle's manifest and SBOM.

Format (``schema = 1``)::

    schema = 1
    production = true               # optional; this spec ships to users: `crio-release bundle`
                                    # applies every production rule of pins.py before fetching
    upstream_layout = true          # optional (implied by production): the bundle must hold every
                                    # path upstream's install script reads (layout.py)
    [upstream_gaps]                 # optional: such paths this spec knowingly lacks, each with why
    "bin/conmonrs" = "no pinnable download address yet"
    [nix]                           # optional; pins for nix (must be a table), checked by pins.py

    [[component]]
    name = "crun"                   # unique; [A-Za-z0-9][A-Za-z0-9._+-]*
    version = "1.21"                # non-empty string
    license = "GPL-2.0-or-later"    # SPDX licence expression
    homepage = "https://..."        # optional
    dest = "bin/crun"               # path below the bundle's top dir `cri-o/`; a directory when the
                                    # source yields several files (a directory or `members`)
    mode = "0755"                   # octal string; for directory dests applied to every file
    provides = ["completions/bash/crio"]  # optional: files below cri-o/ the source yields that the
                                    # spec cannot name otherwise (a directory member); checked when built
    templates = true                # optional: files naming paths as @VAR@ ship rendered with upstream's
                                    # defaults at dest and as written under templates/ (layout.py)

    [component.source.amd64]        # one table per architecture (amd64, arm64, ppc64le, s390x) ...
    [component.source.all]          # ... or one `all` table for architecture-independent files

Each source table holds exactly one kind:

* ``url = "https://..."`` with ``sha256 = "<64 hex>"`` (required), optionally
  ``member = "dir/in/archive"`` (one file of a .tar.gz/.tgz/.tar.xz, written to `dest`) or
  ``members = ["a", "b"]`` (several, written into the directory `dest` under their base names);
* ``path = "relative/to/the/spec"``: a file, or a directory copied recursively below `dest`;
* ``build = "crio-status-zipapp"``: produced from this repository by the builder;
* ``nix = "amd64"`` with ``member = "bin/crio"`` (or ``members``): an attribute of
  ``nix/default.nix`` and the path(s) inside its build output.

Every error is one line naming the component, with ExitCode.SPEC (or
MISSING_COMPONENT when an architecture has no source). This is the one reader
of spec files; the pin rules (pins.py) work on the `Spec` it returns.
"""

from __future__ import annotations

import functools
import re
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from crio.arch import ARCHITECTURES
from crio.artifacts import BUNDLE_INSTALL_SCRIPT, BUNDLE_MANIFEST
from crio.errors import CrioError, ExitCode

SCHEMA = 1
ALL_ARCHS = "all"
#: Builders a `build = "..."` source may name.
BUILDERS: tuple[str, ...] = ("crio-status-zipapp",)
#: In-bundle names the builder writes itself; no component may claim them.
RESERVED_PATHS: tuple[str, ...] = (BUNDLE_INSTALL_SCRIPT, "Makefile", "README.md", BUNDLE_MANIFEST)
#: The owner of those files in the bundle's manifest and SBOM; no component may take the name.
RESERVED_NAME = "bundle"

_TOP_KEYS = {"schema", "production", "upstream_layout", "upstream_gaps", "nix", "component"}
_COMPONENT_KEYS = {"name", "version", "license", "homepage", "dest", "mode", "source", "provides", "templates"}
_SOURCE_KEYS = {"url", "sha256", "member", "members", "path", "build", "nix"}
_KINDS = ("url", "path", "build", "nix")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
#: license-expression's shared tokenizer is not thread-safe; every parse holds this lock.
LICENSING_LOCK = threading.Lock()


@functools.cache
def spdx_licensing() -> Any:
    """license-expression's SPDX licensing, built once: building it reads the whole licence index (~50 ms)."""
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@dataclass(frozen=True)
class Source:
    """Where one architecture's files of a component come from."""

    kind: str                       # url | path | build | nix
    url: str | None = None
    sha256: str | None = None
    members: tuple[str, ...] = ()   # archive or nix-output paths; empty: the whole file/output
    single_member: bool = False     # `member = ...` (dest is a file) rather than `members = [...]`
    path: Path | None = None        # resolved against the spec's directory
    build: str | None = None
    nix: str | None = None

    def describe(self) -> dict[str, Any]:
        """What the bundle manifest records of this source."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "url":
            out.update(url=self.url, sha256=self.sha256)
        elif self.kind == "build":
            out["build"] = self.build
        elif self.kind == "nix":
            out["nix"] = self.nix
        if self.members:
            out["members"] = list(self.members)
        return out


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    license: str
    dest: str
    mode: int
    sources: dict[str, Source]
    homepage: str | None = None
    provides: tuple[str, ...] = ()
    templates: bool = False

    def source_for(self, arch: str) -> Source:
        """This component's source for `arch`, or a MISSING_COMPONENT error naming it."""
        if arch in self.sources:
            return self.sources[arch]
        if ALL_ARCHS in self.sources:
            return self.sources[ALL_ARCHS]
        have = ", ".join(sorted(self.sources)) or "none"
        raise CrioError(
            f"component {self.name} has no source for {arch} (it has: {have}); "
            f"add [component.source.{arch}] or [component.source.all]",
            ExitCode.MISSING_COMPONENT,
        )


@dataclass(frozen=True)
class Spec:
    """A loaded spec. `nix` is the [nix] table as written (None when the spec has none)."""

    path: Path
    components: tuple[Component, ...]
    nix: dict[str, Any] | None = None
    production: bool = False
    upstream_layout: bool = False
    upstream_gaps: tuple[tuple[str, str], ...] = ()   # (bundle path, why it is missing)

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def check_complete(self, archs: list[str]) -> None:
        """Raise MISSING_COMPONENT for the first component without a source for one of `archs`."""
        for arch in archs:
            for component in self.components:
                component.source_for(arch)


def _fail(message: str, where: str) -> CrioError:
    return CrioError(f"{where}: {message}", ExitCode.SPEC)


def load_spec(path: Path) -> Spec:
    """Read and validate a spec file; any problem is one line with ExitCode.SPEC."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CrioError(f"cannot read spec {path}: {exc.strerror or exc}", ExitCode.SPEC) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CrioError(f"spec {path} is not UTF-8 text", ExitCode.SPEC) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line N, column M)".
        raise CrioError(f"spec {path} does not parse: {exc}", ExitCode.SPEC) from None
    return parse_spec(data, path)


def parse_spec(data: dict[str, Any], path: Path) -> Spec:
    """Validate parsed TOML; `path` locates relative `path =` sources and names the file in errors."""
    where = f"spec {path}"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(f"unknown top-level key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_TOP_KEYS))}", where)
    if data.get("schema") != SCHEMA:
        raise _fail(f"schema must be {SCHEMA}, got {data.get('schema')!r}", where)
    nix = data.get("nix")
    if nix is not None and not isinstance(nix, dict):
        raise _fail("[nix] must be a table", where)
    production = data.get("production", False)
    if not isinstance(production, bool):
        raise _fail(f"production must be true or false, got {production!r}", where)
    upstream_layout = data.get("upstream_layout", production)
    if not isinstance(upstream_layout, bool):
        raise _fail(f"upstream_layout must be true or false, got {upstream_layout!r}", where)
    gaps = _upstream_gaps(data.get("upstream_gaps", {}), where)
    entries = data.get("component")
    if not isinstance(entries, list) or not entries:
        raise _fail("no [[component]] entries", where)
    components: list[Component] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        component = _parse_component(entry, index, path)
        if component.name in seen:
            raise _fail(f"component {component.name} is defined twice; names must be unique", where)
        seen.add(component.name)
        components.append(component)
    return Spec(path=path, components=tuple(components), nix=None if nix is None else dict(nix),
                production=production, upstream_layout=upstream_layout or production, upstream_gaps=gaps)


def _upstream_gaps(table: Any, where: str) -> tuple[tuple[str, str], ...]:
    """[upstream_gaps]: bundle path -> a non-empty reason (which paths may be named: layout.py decides)."""
    if not isinstance(table, dict):
        raise _fail("[upstream_gaps] must be a table of \"bundle/path\" = \"why it is missing\"", where)
    for path, why in table.items():
        if not isinstance(why, str) or not why.strip():
            raise _fail(f"upstream_gaps.{path!r} must give the reason as a non-empty string", where)
    return tuple(sorted(table.items()))


def _string(entry: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{key} must be a non-empty string", where)
    return value


def _parse_component(entry: Any, index: int, spec_path: Path) -> Component:
    where = f"spec {spec_path}: component #{index}"
    if not isinstance(entry, dict):
        raise CrioError(f"{where}: must be a table", ExitCode.SPEC)
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CrioError(
            f"{where}: name must match [A-Za-z0-9][A-Za-z0-9._+-]*, got {name!r}", ExitCode.SPEC
        )
    if name == RESERVED_NAME:
        raise CrioError(f"{where}: name {name!r} is reserved for the builder's own files (install, Makefile, README.md)",
                        ExitCode.SPEC)
    where = f"spec {spec_path}: component {name}"
    unknown = sorted(set(entry) - _COMPONENT_KEYS)
    if unknown:
        raise _fail(f"unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_COMPONENT_KEYS))}", where)
    version = _string(entry, "version", where)
    license_expr = _string(entry, "license", where)
    _check_license(license_expr or "", where)
    homepage = _string(entry, "homepage", where, required=False)
    dest = _check_dest(entry.get("dest"), where)
    mode = _check_mode(entry.get("mode"), where)
    raw_sources = entry.get("source")
    if not isinstance(raw_sources, dict) or not raw_sources:
        raise _fail("needs [component.source.ARCH] tables (or [component.source.all])", where)
    sources: dict[str, Source] = {}
    for arch, table in raw_sources.items():
        if arch != ALL_ARCHS and arch not in ARCHITECTURES:
            raise _fail(
                f"unknown architecture {arch!r} in [component.source.{arch}]; accepted: "
                f"{', '.join(ARCHITECTURES)} or all",
                where,
            )
        sources[arch] = _parse_source(table, f"{where}: source.{arch}", spec_path)
    if ALL_ARCHS in sources and len(sources) > 1:
        raise _fail("[component.source.all] cannot be combined with per-architecture sources", where)
    multi = any(len(s.members) > 1 or (s.members and not s.single_member) for s in sources.values())
    if multi and any(s.single_member for s in sources.values()):
        raise _fail("mix of member and members across architectures; use one form", where)
    assert version is not None and license_expr is not None
    provides = _provides(entry.get("provides", []), dest, where)
    templates = entry.get("templates", False)
    if not isinstance(templates, bool):
        raise _fail(f"templates must be true or false, got {templates!r}", where)
    return Component(name, version, license_expr, dest, mode, sources, homepage, provides, templates)


def _provides(value: Any, dest: str, where: str) -> tuple[str, ...]:
    """`provides`: bundle paths (checked like dests) the component's sources yield below its dest."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail("provides must be a list of paths below cri-o/ such as \"completions/bash/crio\"", where)
    for item in value:
        _check_dest(item, where)
        if not item.startswith(dest + "/"):
            raise _fail(f"provides {item!r} is not below the component's dest {dest}/", where)
    return tuple(value)


def _check_license(expression: str, where: str) -> None:
    from license_expression import ExpressionError

    try:
        with LICENSING_LOCK:
            spdx_licensing().parse(expression, validate=True, strict=True)
    except ExpressionError as exc:
        raise _fail(f"license {expression!r} is not a valid SPDX expression ({exc})", where) from None


def _check_dest(dest: Any, where: str) -> str:
    accepted = "a relative path below cri-o/ such as bin/crun, without '..', '.', '//' or a leading '/'"
    if not isinstance(dest, str) or not dest:
        raise _fail(f"dest must be {accepted}", where)
    pure = PurePosixPath(dest)
    parts = dest.split("/")
    if pure.is_absolute() or "\\" in dest or any(p in ("", ".", "..") for p in parts):
        raise _fail(f"dest {dest!r} is not {accepted}", where)
    if parts[0] in RESERVED_PATHS:
        raise _fail(f"dest {dest!r} is written by the builder itself; reserved: {', '.join(RESERVED_PATHS)}", where)
    return dest


def _check_mode(mode: Any, where: str) -> int:
    if not isinstance(mode, str) or not _MODE_RE.match(mode):
        raise _fail(f"mode must be an octal string such as \"0755\" or \"0644\", got {mode!r}", where)
    value = int(mode, 8)
    if value & 0o7000:
        raise _fail(f"mode {mode} sets setuid/setgid/sticky bits; bundles carry plain permissions only", where)
    if not value & 0o400:
        raise _fail(f"mode {mode} makes the file unreadable by its owner", where)
    return value


def _parse_source(table: Any, where: str, spec_path: Path) -> Source:
    if not isinstance(table, dict):
        raise _fail("must be a table", where)
    unknown = sorted(set(table) - _SOURCE_KEYS)
    if unknown:
        raise _fail(f"unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_SOURCE_KEYS))}", where)
    kinds = [k for k in _KINDS if k in table]
    if len(kinds) != 1:
        raise _fail(f"needs exactly one of {', '.join(_KINDS)}, got {', '.join(kinds) or 'none'}", where)
    kind = kinds[0]
    value = table[kind]
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{kind} must be a non-empty string", where)
    if "member" in table and "members" in table:
        raise _fail("use member or members, not both", where)
    members = _members(table, where)
    if "sha256" in table and kind != "url":
        raise _fail("sha256 belongs to url sources only", where)
    if members and kind in ("path", "build"):
        raise _fail(f"member/members do not apply to {kind} sources", where)
    single = "member" in table
    if kind == "url":
        if not re.match(r"^https?://[^\s/]+/\S*$", value):
            raise _fail(f"url {value!r} must be an http(s) URL", where)
        sha = table.get("sha256")
        if sha is None:
            raise _fail(f"url {value} has no sha256; every download must be pinned by its sha256", where)
        if not isinstance(sha, str) or not _SHA_RE.match(sha):
            raise _fail(f"sha256 must be 64 lowercase hex digits, got {sha!r}", where)
        return Source("url", url=value, sha256=sha, members=members, single_member=single)
    if kind == "path":
        pure = PurePosixPath(value)
        if pure.is_absolute():
            raise _fail(f"path {value!r} must be relative to the spec file", where)
        return Source("path", path=(spec_path.parent / value).resolve())
    if kind == "build":
        if value not in BUILDERS:
            raise _fail(f"unknown builder {value!r}; accepted: {', '.join(BUILDERS)}", where)
        return Source("build", build=value)
    if not members:
        raise _fail(f"nix source {value!r} needs member (a path inside the build output) or members", where)
    return Source("nix", nix=value, members=members, single_member=single)


def _members(table: dict[str, Any], where: str) -> tuple[str, ...]:
    if "member" in table:
        raw = [table["member"]]
    elif "members" in table:
        raw = table["members"]
        if not isinstance(raw, list) or not raw:
            raise _fail("members must be a non-empty list of paths", where)
    else:
        return ()
    out = []
    for item in raw:
        if not isinstance(item, str) or not item:
            raise _fail(f"member {item!r} must be a non-empty path", where)
        norm = item.removeprefix("./")
        parts = norm.split("/")
        if norm.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise _fail(f"member {item!r} must be a relative path without '..'", where)
        out.append(norm)
    if len({PurePosixPath(m).name for m in out}) != len(out):
        raise _fail("members must have distinct base names (they land in one directory)", where)
    return tuple(out)
