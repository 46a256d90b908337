"""The pin rules of a loaded spec, run by `crio-release bundle` before anything is fetched.

Why separate from `crio_release.build.spec`: the loader accepts any well-formed
spec (tests build bundles from local paths, one architecture, no nix). Pins
need more, in two tiers, each applied when the spec has what it governs:

* a spec with a `[nix]` table gets the rules nix/pins.nix asserts at
  evaluation time (`nix_pin_problems`): well-formed nixpkgs and crio-source
  pins, and crio and pinns taken from the nix output of their own
  architecture at the crio-source tag's version, so the two halves cannot
  drift and a broken pin fails before nix-build runs;
* a spec that says `production = true` (the one shipped to users) gets every
  production rule as well (`production_problems`): each download pinned by
  sha256 over https and naming its version and architecture, the CI
  architectures complete, the required components present, nixpkgs pinned to
  a commit and the crio source to the archive of its revision on GitHub.

Problems are collected, one line each, instead of stopping at the first, so a
reviewer of a pin bump sees them all at once.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crio.arch import ALIASES, DEFAULT_BUILD_ARCHITECTURES
from crio.errors import CrioError, ExitCode
from crio.revision import Version, parse_revision
from crio_release.build.layout import upstream_layout_problems
from crio_release.build.spec import Component, Source, Spec, load_spec

#: The production spec shipped with the toolkit.
PRODUCTION_SPEC: Path = Path(__file__).resolve().parent / "specs" / "production.toml"

#: The attributes nix/default.nix defines, one per architecture CI builds; a production spec covers them all.
NIX_ATTRIBUTES: tuple[str, ...] = DEFAULT_BUILD_ARCHITECTURES
REQUIRED_ARCHS: tuple[str, ...] = DEFAULT_BUILD_ARCHITECTURES

#: Components nix builds from [nix.crio-source], and the file each takes from an attribute's output
#: (nix/pins.nix `outputs`; a test holds the two together).
NIX_MEMBERS: dict[str, str] = {"crio": "bin/crio", "pinns": "bin/pinns"}

#: crio's documentation from the same nix build (nix/crio.nix installs exactly these paths in each
#: architecture's output; a test holds the two together): component -> its members there.
NIX_DOCS: dict[str, tuple[str, ...]] = {
    "crio-man-pages": ("share/man/man8/crio.8", "share/man/man5/crio.conf.5", "share/man/man5/crio.conf.d.5"),
    "crio-completions": ("completions/bash", "completions/fish", "completions/zsh"),
}

#: Components a production bundle must carry (conmon-rs is missing until its
#: download address can be pinned; see the comment at the top of production.toml).
REQUIRED_COMPONENTS: tuple[str, ...] = ("crio", "pinns", "conmon", "crun", "runc", "crictl", "cni-plugins",
                                        "crio-credential-provider", *NIX_DOCS)

#: The keys of each pin table, as nix/pins.nix reads them.
PIN_KEYS: dict[str, tuple[str, ...]] = {
    "nixpkgs": ("url", "sha256"),
    "crio-source": ("owner", "repo", "tag", "rev", "url", "sha256"),
}

_NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NIXPKGS_URL = re.compile(r"^https://github\.com/NixOS/nixpkgs/archive/(?P<rev>[^/]+)\.tar\.gz$")


def nix_hash_to_hex(value: str) -> str:
    """The sha256 digest (hex) of a nix hash given as 52-char nix base32, `sha256-<base64>` SRI or 64 hex.

    Why: fetchTarball accepts all three spellings; decoding them lets two
    published spellings of the same pin be compared, and rejects strings that
    only look like a hash.
    """
    if _HEX64.match(value):
        return value
    if value.startswith("sha256-"):
        body = value[len("sha256-"):]
        if not re.fullmatch(r"[A-Za-z0-9+/]{43}=", body):
            raise ValueError(f"{value!r} is not an SRI sha256 (sha256- and 44 base64 characters)")
        return base64.b64decode(body, validate=True).hex()
    if len(value) == 52 and all(c in _NIX32_ALPHABET for c in value):
        # Nix base32: least significant 5-bit group last; 52*5 = 260 bits, so
        # the 4 top bits (in the first character) must be zero.
        number = 0
        for char in value:
            number = number * 32 + _NIX32_ALPHABET.index(char)
        if number >> 256:
            raise ValueError(f"{value!r} is longer than a sha256 in nix base32 (first character must be 0 or 1)")
        return number.to_bytes(32, "little").hex()
    raise ValueError(
        f"{value!r} is not a nix sha256: use 52 characters of nix base32, sha256-<base64> or 64 hex digits"
    )


def _is_commit(text: str) -> bool:
    """A full lowercase commit SHA, as crio.revision reads one (and nix/pins.nix's isRev accepts)."""
    try:
        return parse_revision(text).sha == text
    except CrioError:
        return False


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except CrioError:
        return False
    return True


# The pipeline step ------------------------------------------------------------------


def check_spec_pins(spec: Spec) -> None:
    """Raise CrioError(SPEC) listing every pin problem of the tiers `spec` asks for; quiet when none."""
    problems = production_problems(spec) if spec.production else nix_pin_problems(spec)
    if spec.upstream_layout and not spec.production:
        problems += upstream_layout_problems(spec)
    if problems:
        raise CrioError(f"spec {spec.path}: " + "; ".join(problems), ExitCode.SPEC)


def check_production_spec(path: Path = PRODUCTION_SPEC) -> None:
    """Load the spec at `path` and hold it to the production rules, whatever it says about itself."""
    spec = load_spec(path)
    problems = production_problems(spec)
    if problems:
        raise CrioError(f"production spec {path}: " + "; ".join(problems), ExitCode.SPEC)


# Nix pins: what nix/pins.nix asserts ---------------------------------------------------


@dataclass(frozen=True)
class NixPins:
    """The spec's nix pins as nix/pins.nix reads them (compared in tests)."""

    nixpkgs: dict[str, str]
    crio_source: dict[str, str]
    version: str
    components: dict[str, dict[str, Any]]


def nix_pins(spec: Spec) -> NixPins:
    """The checked [nix] pins of `spec`; CrioError(SPEC) listing every problem when they do not hold."""
    problems = nix_pin_problems(spec) if spec.nix is not None else ["no [nix] table; nix/pins.nix needs one"]
    if problems:
        raise CrioError(f"spec {spec.path}: " + "; ".join(problems), ExitCode.SPEC)
    assert spec.nix is not None
    tables = {name: {key: spec.nix[name][key] for key in keys} for name, keys in PIN_KEYS.items()}
    components = {
        name: {"version": spec.component(name).version,  # type: ignore[union-attr]
               "sources": {attr: {"nix": attr, "member": member} for attr in NIX_ATTRIBUTES}}
        for name, member in NIX_MEMBERS.items()
    }
    return NixPins(tables["nixpkgs"], tables["crio-source"], tables["crio-source"]["tag"][1:], components)


def nix_pin_problems(spec: Spec, *, production: bool = False) -> list[str]:
    """Every way `spec`'s [nix] pins break the rules nix/pins.nix asserts (none without a [nix] table).

    With `production`, the stricter production forms of the same pins apply.
    """
    if spec.nix is None:
        return []
    problems: list[str] = []
    tables = _pin_tables(spec.nix, problems)
    if "nixpkgs" in tables:
        _check_nixpkgs(tables["nixpkgs"], production, problems)
    tag = _check_crio_source(tables["crio-source"], production, problems) if "crio-source" in tables else None
    for name, member in NIX_MEMBERS.items():
        _check_nix_component(spec.component(name), name, member, tag, problems)
    for name, members in NIX_DOCS.items():
        if production or spec.component(name) is not None:
            _check_nix_docs(spec.component(name), name, members, tag, problems)
    return problems


def _pin_tables(nix: dict[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """The pin tables whose keys are all non-empty strings; a problem for each that is not."""
    tables: dict[str, dict[str, Any]] = {}
    for name, keys in PIN_KEYS.items():
        table = nix.get(name)
        if not isinstance(table, dict):
            problems.append(f"[nix.{name}] table is missing (it holds {', '.join(keys)})")
            continue
        bad = [key for key in keys if not isinstance(table.get(key), str) or not table[key]]
        problems += [f"nix.{name}.{key} must be a non-empty string" for key in bad]
        if "sha256" not in bad:
            try:
                nix_hash_to_hex(table["sha256"])
            except ValueError as exc:
                problems.append(f"nix.{name}.sha256: {exc}")
                bad.append("sha256")
        if not bad:
            tables[name] = table
    return tables


def _check_nixpkgs(table: dict[str, str], production: bool, problems: list[str]) -> None:
    if not production:
        return
    match = _NIXPKGS_URL.match(table["url"])
    if not match:
        problems.append(f"nix.nixpkgs.url {table['url']!r} must be "
                        "https://github.com/NixOS/nixpkgs/archive/<40-hex commit>.tar.gz")
    elif not _is_commit(match["rev"]):
        problems.append(f"nix.nixpkgs.url names {match['rev']!r}, not a 40-hex commit (branches move)")


def _check_crio_source(source: dict[str, str], production: bool, problems: list[str]) -> str | None:
    """Check [nix.crio-source]; return its tag when it is a version tag."""
    tag: str | None = source["tag"]
    if not (source["tag"].startswith("v") and _is_version(source["tag"])):
        problems.append(f"nix.crio-source.tag {source['tag']!r} must start with v and be a version such as v1.36.1")
        tag = None
    rev = source["rev"]
    # A commit, or the tag itself when its commit is not known (the sha256 pins the content either way).
    if not _is_commit(rev) and rev != source["tag"]:
        problems.append(f"nix.crio-source.rev {rev!r} is neither a 40-hex commit nor the tag "
                        "(use the commit of the tag, or the tag itself when the commit is unknown)")
    if production:
        want = f"https://github.com/{source['owner']}/{source['repo']}/archive/{rev}.tar.gz"
        if source["url"] != want:
            problems.append(f"nix.crio-source.url {source['url']!r} must be {want} (the archive of rev)")
    elif not source["url"].endswith(f"/{rev}.tar.gz"):
        problems.append(f"nix.crio-source.url {source['url']!r} must end with /{rev}.tar.gz (the archive of rev)")
    return tag


def _check_nix_component(component: Component | None, name: str, member: str, tag: str | None,
                         problems: list[str]) -> None:
    """`name` is built by nix: from each attribute's own output, at the crio-source tag's version."""
    if component is None:
        problems.append(f"component {name} is missing: nix builds it from [nix.crio-source]")
        return
    if tag is not None and component.version != tag[1:]:
        problems.append(f"component {name} version {component.version} differs from nix.crio-source tag {tag}; "
                        "nix builds it from that source, so they must be the same release")
    for attr in NIX_ATTRIBUTES:
        source = component.sources.get(attr)
        if source is None:
            problems.append(f"component {name} has no source for {attr}")
        elif (source.kind, source.nix, source.members, source.single_member) != ("nix", attr, (member,), True):
            # nix/pins.nix's words, so either side's refusal reads the same.
            problems.append(f"component {name} source.{attr} must be nix = {attr!r}, member = {member!r}, "
                            "its own architecture's file of the nix output")


def _check_nix_docs(component: Component | None, name: str, members: tuple[str, ...], tag: str | None,
                    problems: list[str]) -> None:
    """`name` is crio's documentation from the nix build: its own architecture's output, at the tag's version."""
    if component is None:
        problems.append(f"component {name} is missing: nix/crio.nix installs it with crio")
        return
    if tag is not None and component.version != tag[1:]:
        problems.append(f"component {name} version {component.version} differs from nix.crio-source tag {tag}")
    for attr in NIX_ATTRIBUTES:
        source = component.sources.get(attr)
        if source is None:
            problems.append(f"component {name} has no source for {attr}")
        elif (source.kind, source.nix, source.members, source.single_member) != ("nix", attr, members, False):
            problems.append(f"component {name} source.{attr} must be nix = {attr!r}, members = {list(members)!r} "
                            "(what nix/crio.nix installs)")


# Production: every rule ---------------------------------------------------------------


def _directory_dest(component: Component) -> bool:
    """Whether every source of `component` writes files below its dest (several members, or a directory).

    Two such components may share a dest directory; the builder still refuses any
    file both would write (checks.check_conflicts). A path source is taken as a
    directory unless it is a file (a copied spec's relative paths may not resolve).
    """
    return all((source.members and not source.single_member) or
               (source.kind == "path" and source.path is not None and not source.path.is_file())
               for source in component.sources.values())


def production_problems(spec: Spec) -> list[str]:
    """Every way `spec` breaks the production rules, one line each; [] if none."""
    problems = nix_pin_problems(spec, production=True) if spec.nix is not None else ["[nix] table is missing"]
    dests: dict[str, Component] = {}
    digests: dict[str, str] = {}
    for component in spec.components:
        label = f"component {component.name}"
        other = dests.get(component.dest)
        if other is not None and not (_directory_dest(other) and _directory_dest(component)):
            problems.append(f"{label} writes dest {component.dest}, already written by component {other.name}")
        dests.setdefault(component.dest, component)
        _check_sources(component, label, digests, problems)
    names = {c.name for c in spec.components}
    problems += [f"required component {name} is missing" for name in REQUIRED_COMPONENTS if name not in names]
    problems += upstream_layout_problems(spec)   # a production bundle must install with upstream's script too
    return list(dict.fromkeys(problems))  # the nix and production checks may say the same thing once each


def _check_sources(component: Component, label: str, digests: dict[str, str], problems: list[str]) -> None:
    if "all" in component.sources:
        _check_download(component.sources["all"], f"{label} source.all", None, component.version, digests,
                        problems)
        return
    problems += [f"{label} has no source for {arch}" for arch in REQUIRED_ARCHS if arch not in component.sources]
    for arch, source in component.sources.items():
        where = f"{label} source.{arch}"
        _check_download(source, where, arch, component.version, digests, problems)
        if source.kind == "nix" and source.nix != arch and component.name not in NIX_MEMBERS:
            problems.append(f"{where} takes nix attribute {source.nix!r}; it must be {arch!r}")
    if len({source.members for source in component.sources.values()}) > 1:
        problems.append(f"{label} takes different archive members per architecture")


def _check_download(source: Source, where: str, arch: str | None, version: str, digests: dict[str, str],
                    problems: list[str]) -> None:
    """A download is https, its sha256 used once, and its URL names its version and architecture."""
    if source.kind != "url":
        return
    url, sha = source.url or "", source.sha256 or ""
    if not url.startswith("https://"):
        problems.append(f"{where} url {url!r} must be https://")
        return
    if sha in digests and digests[sha] != url:
        problems.append(f"{where} has the same sha256 as {digests[sha]}: a copy-paste error")
    digests.setdefault(sha, url)
    if version.removeprefix("v") not in url:
        problems.append(f"{where} url {url} does not mention version {version}")
    file_name = url.rsplit("/", 1)[-1]
    if arch is not None and not any(spelling in file_name for spelling, to in ALIASES.items() if to == arch):
        problems.append(f"{where} url {url} does not name architecture {arch}")
