"""Write `cri-o.<rev>.provenance.json` for a built revision directory (see crio.provenance for the format).

Subjects come from the revision manifest and every file is hashed again
first, so a file changed after the build is refused, not attested. Build
facts come from the spec the bundles were built from (its digest, every
pinned download, the nixpkgs pin and the CRI-O source) and from the CI run
(GitHub's environment variables) when there is one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crio import __version__
from crio.artifacts import REQUIRED_ROLES, manifest_name, provenance_name
from crio.checksums import sha256_file
from crio.errors import CrioError, ExitCode
from crio.manifest import RevisionManifest, checked_entry_path, read_local_manifest
from crio.provenance import dumps, statement
from crio.revision import Revision
from crio_release.build.bundle import EMBEDDED_SPEC
from crio_release.build.pins import nix_hash_to_hex
from crio_release.build.spec import load_spec

#: Builder id outside CI (SLSA needs a URI; this one says "a person's machine").
LOCAL_BUILDER = "urn:crio-release:local"


@dataclass(frozen=True)
class RunFacts:
    """Where the released source lives and who built it; defaults read from GitHub Actions."""

    source_repo: str
    source_commit: str
    builder_id: str
    invocation_id: str | None

    @classmethod
    def from_environment(cls, revision: Revision, source_repo: str | None = None, source_commit: str | None = None,
                         builder_id: str | None = None, env: dict[str, str] | None = None) -> RunFacts:
        env = dict(os.environ if env is None else env)
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = source_repo or (f"{server}/{env['GITHUB_REPOSITORY']}" if env.get("GITHUB_REPOSITORY") else None)
        commit = source_commit or revision.sha or env.get("GITHUB_SHA")
        if not repo or not commit:
            raise CrioError("provenance needs the source repository and commit: pass --source-repo URL and "
                            "--source-commit SHA (GitHub Actions sets them)", ExitCode.USAGE)
        builder = builder_id or (f"{server}/{env['GITHUB_WORKFLOW_REF']}" if env.get("GITHUB_WORKFLOW_REF")
                                 else LOCAL_BUILDER)
        run = None
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            run = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            run += f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        return cls(repo, commit, builder, run)

    def source_uri(self, revision: Revision) -> str:
        """`git+REPO@refs/tags/vX.Y.Z` for a tag, `git+REPO@COMMIT` for a commit (SLSA's VCS URI form)."""
        ref = f"refs/tags/{revision}" if revision.sha is None else self.source_commit
        return f"git+{self.source_repo}@{ref}"


def _dependencies(spec_path: Path, archs: list[str]) -> list[dict[str, Any]]:
    """Every pinned input of the spec: url downloads per architecture, nixpkgs and the CRI-O source."""
    spec = load_spec(spec_path)
    deps: dict[str, dict[str, Any]] = {}
    for component in spec.components:
        for arch in archs:
            source = component.source_for(arch)
            if source.kind == "url" and source.url and source.url not in deps:
                deps[source.url] = {"name": f"{component.name}-{component.version}-{arch}", "uri": source.url,
                                    "digest": {"sha256": source.sha256}}
    for key in ("nixpkgs", "crio-source"):
        pin = spec.nix.get(key) if isinstance(spec.nix, dict) else None
        if isinstance(pin, dict) and pin.get("url") and pin.get("sha256"):
            deps[pin["url"]] = {"name": key, "uri": pin["url"], "digest": {"sha256": nix_hash_to_hex(pin["sha256"])}}
    return list(deps.values())


def _subjects(directory: Path, manifest: RevisionManifest) -> dict[str, str]:
    subjects: dict[str, str] = {}
    for entry in manifest.files:
        if entry.role not in REQUIRED_ROLES:
            continue
        checked_entry_path(directory, entry, "attest")
        subjects[entry.name] = entry.sha256
    return subjects


def write_provenance(directory: Path, revision: Revision, facts: RunFacts, spec_path: Path | None = None) -> Path:
    """Write the statement into `directory` beside the manifest; returns its path."""
    manifest_path, manifest = read_local_manifest(directory, revision)
    spec = Path(spec_path) if spec_path else EMBEDDED_SPEC
    data = statement(
        _subjects(directory, manifest), revision=revision, architectures=manifest.architectures,
        spec={"name": spec.name, "digest": {"sha256": sha256_file(spec)}},
        source_uri=facts.source_uri(revision), source_commit=facts.source_commit,
        dependencies=_dependencies(spec, manifest.architectures), builder_id=facts.builder_id,
        invocation_id=facts.invocation_id, toolkit_version=__version__)
    path = directory / provenance_name(revision)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path
