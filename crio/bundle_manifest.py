"""The in-bundle `cri-o/manifest.json`: every file of one bundle with its sha256, size, mode and owner.

The bundle builder writes it as the tarball's last entry (`BundleManifest.to_json`);
crio-get checks the extracted files against it while they stream in
(`BundleManifest.from_json(...).sha256_by_path()`); the bundle's own `install`
script reads the same `files` list in plain bash (`install --contract
manifest_files FILE`), held to `sha256_by_path` by tests/get/test_get_contract.py.

The reading rule is the install script's, because nodes have no JSON parser:
`files` is a list of flat objects; each needs a `path` relative to the bundle
top (a leading `cri-o/` or `./` is dropped) made of tarball-name characters,
without `.`/`..` components, and a 64-hex `sha256`; `manifest.json` itself is
skipped; at least one file must be listed. Everything else is description.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from crio.artifacts import BUNDLE_MANIFEST, BUNDLE_TOP
from crio.errors import CrioError, ExitCode

SCHEMA = 1
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
#: Characters a bundle path may hold: the tarball member names both installers accept.
PATH_CHARS_RE = re.compile(r"^[A-Za-z0-9._+@%=,:~/-]+$")


class BundleManifestError(CrioError):
    """manifest.json cannot be read by the rule above: the bundle is not what was built."""

    exit_code = ExitCode.VERIFICATION


@dataclass(frozen=True)
class BundleFile:
    """One regular file of the bundle, by its path below `cri-o/`."""

    path: str
    sha256: str
    size: int | None = None
    mode: str | None = None          # octal text, "0755"
    component: str | None = None     # the spec component (or the builder) that owns it


@dataclass(frozen=True)
class BundleComponent:
    """What the bundle spec said of one component: the manifest keeps it for audits."""

    name: str
    version: str
    license: str
    homepage: str | None
    dest: str
    mode: str
    source: dict[str, Any]


@dataclass
class BundleManifest:
    revision: str
    version: str
    arch: str
    source_date_epoch: int
    components: list[BundleComponent] = field(default_factory=list)
    files: list[BundleFile] = field(default_factory=list)

    def to_json(self) -> str:
        """The builder's bytes: sorted keys, two-space indent, files sorted by path."""
        data = {
            "schema": SCHEMA,
            "revision": self.revision,
            "version": self.version,
            "arch": self.arch,
            "source_date_epoch": self.source_date_epoch,
            "components": [asdict(c) for c in self.components],
            "files": [asdict(f) for f in sorted(self.files, key=lambda f: f.path)],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> BundleManifest:
        """Read a manifest by the installers' rule; anything else raises BundleManifestError (exit 6)."""
        try:
            data = json.loads(text)
            entries = data["files"]
            if not isinstance(entries, list):
                raise TypeError("files is not a list")
        except (ValueError, TypeError, KeyError) as exc:
            raise BundleManifestError(f"{BUNDLE_MANIFEST} is not a bundle manifest ({exc}): expected "
                                      '"files": [{"path": ..., "sha256": ...}]') from None
        files = [f for f in map(_read_file_entry, entries) if f is not None]
        if not files:
            raise BundleManifestError(f"{BUNDLE_MANIFEST} lists no files")
        # The rest only describes the bundle; a reader that needs it checks it itself.
        keys = {"name", "version", "license", "homepage", "dest", "mode", "source"}
        raw_components = data.get("components")
        components = [BundleComponent(**c) for c in raw_components if isinstance(c, dict) and set(c) == keys] \
            if isinstance(raw_components, list) else []
        epoch = data.get("source_date_epoch")
        return cls(str(data.get("revision", "")), str(data.get("version", "")), str(data.get("arch", "")),
                   epoch if isinstance(epoch, int) else 0, components, files)

    def sha256_by_path(self) -> dict[str, str]:
        """Bundle-relative path -> lowercase sha256: what both installers check the files against."""
        return {f.path: f.sha256 for f in self.files}


def _read_file_entry(entry: object) -> BundleFile | None:
    """One `files` entry; None for manifest.json itself (it cannot hold its own hash)."""
    if not isinstance(entry, dict):
        raise BundleManifestError(f"{BUNDLE_MANIFEST}: a file entry is not an object: {str(entry)[:80]}")
    path = entry.get("path")
    if not isinstance(path, str):
        raise BundleManifestError(f'{BUNDLE_MANIFEST}: a file entry has no "path": {str(entry)[:120]}')
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _SHA256_RE.match(sha):
        raise BundleManifestError(f'{BUNDLE_MANIFEST}: entry {path} has no 64-hex "sha256"')
    if path.removeprefix(f"{BUNDLE_TOP}/") == BUNDLE_MANIFEST:
        return None
    path = normalize_bundle_path(path)
    size = entry.get("size")
    mode = entry.get("mode")
    component = entry.get("component")
    return BundleFile(path, sha.lower(), size if isinstance(size, int) else None,
                      mode if isinstance(mode, str) else None, component if isinstance(component, str) else None)


def normalize_bundle_path(path: str) -> str:
    """`cri-o/bin/crio` or `./bin/crio` -> `bin/crio`; unsafe or unusual paths raise."""
    path = path.removeprefix(f"{BUNDLE_TOP}/").removeprefix("./")
    if f"/{path}/".find("/../") >= 0 or f"/{path}/".find("/./") >= 0 or path.startswith("/") or path == "":
        raise BundleManifestError(f"{BUNDLE_MANIFEST}: unsafe path '{path}'")
    if not PATH_CHARS_RE.match(path):
        raise BundleManifestError(f"{BUNDLE_MANIFEST}: unsupported characters in path '{path}'")
    return path
