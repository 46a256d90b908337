"""Checks of the production spec's pins: the rules a real release spec must keep.

Why separate from `crio_release.build.spec`: the spec loader accepts any well-formed
spec (tests build bundles from local paths, one architecture, no nix). A spec
that ships to users must be stricter: every download pinned by sha256 over
https, amd64 and arm64 both complete, nix pins that nix can actually use, and
one CRI-O version shared by the nix source and the bundle. The nix side
(nix/pins.nix) checks the same facts at evaluation time; this is the Python
half, usable without nix.

`validate_production_pins` returns every problem (one line each) instead of
stopping at the first, so a reviewer of a pin bump sees them all at once.
"""

from __future__ import annotations

import base64
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from crio.errors import CrioError, ExitCode

#: The production spec shipped with the toolkit.
PRODUCTION_SPEC: Path = Path(__file__).resolve().parent / "specs" / "production.toml"

#: Architectures every production component must cover.
REQUIRED_ARCHS: tuple[str, ...] = ("amd64", "arm64")

#: Components a production bundle must carry (conmon-rs is missing until its
#: download address can be pinned; see the comment at the top of production.toml).
REQUIRED_COMPONENTS: tuple[str, ...] = ("crio", "pinns", "conmon", "crun", "runc", "crictl", "cni-plugins")

#: Components built by nix from [nix.crio-source], and the file each takes from the build output.
NIX_BUILT: dict[str, str] = {"crio": "bin/crio", "pinns": "bin/pinns"}

#: Other spellings of an architecture that may stand in a download's file name.
_ARCH_SPELLINGS: dict[str, tuple[str, ...]] = {
    "amd64": ("amd64", "x86_64", "x86-64"),
    "arm64": ("arm64", "aarch64"),
    "ppc64le": ("ppc64le",),
    "s390x": ("s390x",),
}

_NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
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


def load_spec_dict(path: Path = PRODUCTION_SPEC) -> dict[str, Any]:
    """Parse a spec file with tomllib; a parse error is one CrioError line with the position."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CrioError(f"cannot read spec {path}: {exc.strerror or exc}", ExitCode.SPEC) from None
    except tomllib.TOMLDecodeError as exc:
        raise CrioError(f"spec {path} does not parse: {exc}", ExitCode.SPEC) from None


def check_production_spec(path: Path = PRODUCTION_SPEC) -> None:
    """Raise CrioError(SPEC) listing every pin problem of the spec at `path`; return quietly if none."""
    problems = validate_production_pins(load_spec_dict(path))
    if problems:
        raise CrioError(f"production spec {path}: " + "; ".join(problems), ExitCode.SPEC)


def validate_production_pins(
    spec: Mapping[str, Any],
    *,
    required_components: Iterable[str] = REQUIRED_COMPONENTS,
    archs: Iterable[str] = REQUIRED_ARCHS,
) -> list[str]:
    """Every way `spec` (a parsed production spec) breaks the production rules, one line each; [] if none."""
    problems: list[str] = []
    archs = tuple(archs)
    if spec.get("schema") != 1:
        problems.append(f"schema must be 1, got {spec.get('schema')!r}")
    tag = _check_nix(spec.get("nix"), problems)
    components = spec.get("component")
    if not isinstance(components, list) or not components:
        problems.append("no [[component]] entries")
        return problems
    names: dict[str, int] = {}
    dests: dict[str, str] = {}
    digests: dict[str, str] = {}
    for index, component in enumerate(components, 1):
        if not isinstance(component, Mapping):
            problems.append(f"component #{index} is not a table")
            continue
        name = component.get("name")
        label = f"component {name}" if isinstance(name, str) and name else f"component #{index}"
        if isinstance(name, str) and name:
            if name in names:
                problems.append(f"{label} is defined twice (entries #{names[name]} and #{index})")
            names.setdefault(name, index)
        else:
            problems.append(f"{label} has no name")
        dest = component.get("dest")
        if not isinstance(dest, str) or not dest:
            problems.append(f"{label} has no dest")
        elif dest in dests:
            problems.append(f"{label} writes dest {dest}, already written by {dests[dest]}")
        else:
            dests[dest] = label
        version = component.get("version")
        if not isinstance(version, str) or not version:
            problems.append(f"{label} has no version")
            version = None
        for key in ("license", "mode"):
            if not isinstance(component.get(key), str) or not component.get(key):
                problems.append(f"{label} has no {key}")
        _check_sources(component.get("source"), label, name, version, archs, digests, problems)
        if name in NIX_BUILT and tag is not None and version is not None and version != tag[1:]:
            problems.append(
                f"{label} version {version} differs from nix.crio-source tag {tag}; "
                f"nix builds it from that source, so they must be the same release"
            )
    for required in required_components:
        if required not in names:
            problems.append(f"required component {required} is missing")
    return problems


def _check_nix(nix: Any, problems: list[str]) -> str | None:
    """Check [nix.nixpkgs] and [nix.crio-source]; return the CRI-O tag when it is well formed."""
    if not isinstance(nix, Mapping):
        problems.append("[nix] table is missing")
        return None
    nixpkgs = nix.get("nixpkgs")
    if not isinstance(nixpkgs, Mapping):
        problems.append("[nix.nixpkgs] table is missing")
    else:
        url = nixpkgs.get("url")
        match = _NIXPKGS_URL.match(url) if isinstance(url, str) else None
        if not match:
            problems.append(
                f"nix.nixpkgs.url {url!r} must be https://github.com/NixOS/nixpkgs/archive/<40-hex commit>.tar.gz"
            )
        elif not _HEX40.match(match["rev"]):
            problems.append(f"nix.nixpkgs.url names {match['rev']!r}, not a 40-hex commit (branches move)")
        _check_nix_hash(nixpkgs.get("sha256"), "nix.nixpkgs.sha256", problems)
    source = nix.get("crio-source")
    if not isinstance(source, Mapping):
        problems.append("[nix.crio-source] table is missing")
        return None
    fields = {key: source.get(key) for key in ("owner", "repo", "tag", "rev", "url")}
    for key, value in fields.items():
        if not isinstance(value, str) or not value:
            problems.append(f"nix.crio-source.{key} must be a non-empty string")
    _check_nix_hash(source.get("sha256"), "nix.crio-source.sha256", problems)
    tag = fields["tag"] if isinstance(fields["tag"], str) else None
    if tag is not None and not _TAG.match(tag):
        problems.append(f"nix.crio-source.tag {tag!r} must look like v1.36.1")
        tag = None
    rev = fields["rev"]
    if isinstance(rev, str) and not _HEX40.match(rev) and rev != tag:
        problems.append(f"nix.crio-source.rev {rev!r} must be the 40-hex commit of the tag (or the tag itself)")
    if all(isinstance(v, str) and v for v in fields.values()):
        want = f"https://github.com/{fields['owner']}/{fields['repo']}/archive/{rev}.tar.gz"
        if fields["url"] != want:
            problems.append(f"nix.crio-source.url {fields['url']!r} must be {want} (the archive of rev)")
    return tag


def _check_nix_hash(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{where} is missing")
        return
    try:
        nix_hash_to_hex(value)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")


def _check_sources(
    sources: Any,
    label: str,
    name: Any,
    version: str | None,
    archs: tuple[str, ...],
    digests: dict[str, str],
    problems: list[str],
) -> None:
    if not isinstance(sources, Mapping) or not sources:
        problems.append(f"{label} has no [component.source.*] tables")
        return
    if "all" in sources:
        if len(sources) > 1:
            problems.append(f"{label} mixes source.all with per-architecture sources")
        _check_one_source(sources["all"], f"{label} source.all", None, version, digests, problems)
        return
    for arch in archs:
        if arch not in sources:
            problems.append(f"{label} has no source for {arch}")
    member_sets = set()
    for arch, table in sources.items():
        where = f"{label} source.{arch}"
        if not isinstance(table, Mapping):
            problems.append(f"{where} is not a table")
            continue
        _check_one_source(table, where, arch, version, digests, problems)
        members = table.get("members", [table["member"]] if "member" in table else [])
        member_sets.add(tuple(members) if isinstance(members, list) else ("<invalid>",))
        if "nix" in table:
            if table["nix"] != arch:
                problems.append(f"{where} takes nix attribute {table['nix']!r}; it must be {arch!r}")
            want = NIX_BUILT.get(name) if isinstance(name, str) else None
            if want is not None and table.get("member") != want:
                problems.append(f"{where} must take member {want!r} from the nix output")
    if len(member_sets) > 1:
        problems.append(f"{label} takes different archive members per architecture")


def _check_one_source(
    table: Mapping[str, Any],
    where: str,
    arch: str | None,
    version: str | None,
    digests: dict[str, str],
    problems: list[str],
) -> None:
    if "url" not in table:
        if "sha256" in table:
            problems.append(f"{where} has a sha256 but no url")
        if not any(kind in table for kind in ("nix", "path", "build")):
            problems.append(f"{where} needs url, nix, path or build")
        return
    url, sha = table.get("url"), table.get("sha256")
    if not isinstance(url, str) or not url.startswith("https://"):
        problems.append(f"{where} url {url!r} must be https://")
        return
    if not isinstance(sha, str) or not _HEX64.match(sha):
        problems.append(f"{where} ({url}) needs sha256 = 64 lowercase hex digits, got {sha!r}")
    elif sha in digests and digests[sha] != url:
        problems.append(f"{where} has the same sha256 as {digests[sha]}: a copy-paste error")
    else:
        digests[sha] = url
    if version is not None and version.removeprefix("v") not in url:
        problems.append(f"{where} url {url} does not mention version {version}")
    if arch is not None:
        file_name = url.rsplit("/", 1)[-1]
        spellings = _ARCH_SPELLINGS.get(arch, (arch,))
        if not any(s in file_name for s in spellings):
            problems.append(f"{where} url {url} does not name architecture {arch}")
