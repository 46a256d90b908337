"""What installs is what was asked for: the revision manifest binds revision, arch, tarball name and sha256.

Installers read the per-revision manifest `cri-o.<rev>.manifest.json` (crio.manifest) by one rule,
`read_tarball_binding`, which scripts/get copies in bash (`--contract tarball_binding`, held to this
module by tests/get/test_get_contract.py). Nodes have no JSON parser, so the rule is strict enough
for a line reader to apply exactly:

- the bytes are exactly the builder's rendering (`RevisionManifest.to_json`: json.dumps with
  indent=2 and sorted keys, files sorted by name, a final newline): anything re-ordered, re-spaced,
  duplicated or extended is refused, so no reader can be shown something another reader misses;
- every string is made of `[A-Za-z0-9_.+-]`, every number a plain non-negative integer, the build
  time below 10**15; schema 1; at least one architecture and one file, names unique;
- it names the requested revision (spelled as crio.revision spells it), lists the requested
  architecture, and lists the tarball `tarball_name(arch, revision)` with role `tarball`, that
  architecture and a 64-hex sha256.

The bundle's own `manifest.json` (crio.bundle_manifest) must name the same revision and arch; it is
read by `bundle_identity`: exactly one line `  "revision": "R",` and one `  "arch": "A",` (two
spaces: how the builder writes top-level keys; nested keys are indented deeper), no NUL byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from crio.artifacts import tarball_name
from crio.errors import CrioError, ExitCode
from crio.manifest import SCHEMA, FileEntry, RevisionManifest

#: Characters every string of a revision manifest may hold.
STRING_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Build times are seconds since 1970 below this bound (bash compares them as 64-bit integers).
MAX_BUILD_TIME = 10**15
#: Larger manifests are refused before they are parsed (a revision lists a few dozen files).
MAX_MANIFEST_BYTES = 1 << 20


class BindingError(CrioError):
    exit_code = ExitCode.VERIFICATION


@dataclass(frozen=True)
class TarballBinding:
    """What the revision manifest says of the requested tarball."""

    revision: str
    arch: str
    name: str
    sha256: str
    build_time: int | None

    def contract_text(self) -> str:
        """`SHA256 BUILD_TIME` (`-` when none): what scripts/get's copy prints."""
        return f"{self.sha256} {'-' if self.build_time is None else self.build_time}"


def _string(value: object, what: str) -> str:
    if not isinstance(value, str) or not STRING_RE.match(value):
        raise BindingError(f"revision manifest: {what} is not a plain string of [A-Za-z0-9_.+-]")
    return value


def _count(value: object, what: str, bound: int | None = None) -> int:
    if type(value) is not int or value < 0 or (bound is not None and value >= bound):
        raise BindingError(f"revision manifest: {what} is not a non-negative integer"
                           + (f" below {bound}" if bound else ""))
    return value


def parse_strict_manifest(data: bytes) -> RevisionManifest:
    """The revision manifest, if `data` is exactly the builder's rendering of one; else BindingError."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BindingError(f"revision manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = data.decode("ascii")
        raw = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BindingError("revision manifest is not JSON in the builder's layout") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), list) \
            or not isinstance(raw.get("architectures"), list):
        raise BindingError("revision manifest has no files and architectures lists")
    files = []
    for entry in raw["files"]:
        if not isinstance(entry, dict) or set(entry) != {"name", "arch", "role", "size", "sha256"}:
            raise BindingError("revision manifest: a file entry is not {arch, name, role, sha256, size}")
        files.append(FileEntry(_string(entry["name"], "a file name"), _string(entry["arch"], "a file's arch"),
                               _string(entry["role"], "a file's role"), _count(entry["size"], "a file size"),
                               _string(entry["sha256"], "a file's sha256")))
    epoch = raw.get("source_date_epoch")
    manifest = RevisionManifest(
        _string(raw.get("revision"), "the revision"), _string(raw.get("version"), "the version"),
        [_string(a, "an architecture") for a in raw["architectures"]], files,
        None if epoch is None else _count(epoch, "source_date_epoch", MAX_BUILD_TIME))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise BindingError("revision manifest lists a file twice")
    if not files or not manifest.architectures or raw.get("schema") != SCHEMA \
            or type(raw.get("schema")) is not int or manifest.to_json() != text:
        raise BindingError("revision manifest is not in the builder's layout "
                           "(json indent 2, sorted keys, files sorted by name, schema 1)")
    return manifest


def read_tarball_binding(data: bytes, revision: str, arch: str) -> TarballBinding:
    """The sha256 and build time the manifest binds to `tarball_name(arch, revision)`; BindingError otherwise."""
    manifest = parse_strict_manifest(data)
    if manifest.revision != revision:
        raise BindingError(f"the revision manifest is for {manifest.revision}, not the requested {revision}")
    if arch not in manifest.architectures:
        raise BindingError(f"the revision manifest of {revision} does not list architecture {arch}")
    name = tarball_name(arch, revision)
    entry = manifest.by_name().get(name)
    if entry is None:
        raise BindingError(f"the revision manifest of {revision} does not list {name}")
    if entry.role != "tarball" or entry.arch != arch:
        raise BindingError(f"the revision manifest lists {name} as {entry.role} of {entry.arch}, "
                           f"not as the tarball of {arch}")
    if not SHA256_RE.match(entry.sha256):
        raise BindingError(f"the revision manifest lists no 64-hex sha256 for {name}")
    return TarballBinding(revision, arch, name, entry.sha256, manifest.source_date_epoch)


_IDENTITY_RE = {key: re.compile(rb'^  "' + key.encode() + rb'": "([A-Za-z0-9_.+-]+)",?$')
                for key in ("revision", "arch")}


def bundle_identity(data: bytes) -> tuple[str | None, str | None]:
    """(revision, arch) the bundle's manifest.json names by the line rule above; None for a missing line.

    Two lines for one key, a line that does not match, or a NUL byte: BindingError.
    """
    if b"\0" in data:
        raise BindingError("the bundle's manifest.json holds a NUL byte")
    found: dict[str, str | None] = {}
    lines = data.split(b"\n")
    for key, pattern in _IDENTITY_RE.items():
        head = b'  "' + key.encode() + b'":'
        candidates = [line for line in lines if line.startswith(head)]
        if len(candidates) > 1:
            raise BindingError(f'the bundle\'s manifest.json names "{key}" more than once')
        match = pattern.match(candidates[0]) if candidates else None
        if candidates and match is None:
            raise BindingError(f'the bundle\'s manifest.json has an unreadable "{key}" line')
        found[key] = match[1].decode() if match else None
    return found["revision"], found["arch"]


def check_bundle_identity(data: bytes | None, revision: str, arch: str, required: bool) -> str:
    """Refuse a bundle whose manifest.json names another revision or arch; returns what was checked.

    `required` (a key was given): a missing manifest.json or identity line is refused too;
    otherwise it is reported as not cross-checked.
    """
    named = bundle_identity(data) if data is not None else (None, None)
    for key, want, got in (("revision", revision, named[0]), ("arch", arch, named[1])):
        if got is not None and got != want:
            raise BindingError(f"the bundle's manifest.json names {key} {got}, not the requested {want}")
    if None in named:
        missing = "no manifest.json" if data is None else "a manifest.json without revision and arch"
        if required:
            raise BindingError(f"the bundle has {missing}: with a key, the bundle must name its revision and arch")
        return f"the bundle has {missing}: its revision and arch are not cross-checked"
    return f"the bundle names {revision} ({arch})"
