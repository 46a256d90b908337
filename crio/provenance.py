"""`cri-o.<rev>.provenance.json`: an in-toto Statement v1 carrying an SLSA Provenance v1 predicate.

The pipeline writes it (crio_release.build.provenance), signs it like every
other artifact and publishes it create-only; `crio-release verify` (and,
later, the installers) read it here. Subjects are the built artifacts of every
architecture (tarball, .sha256sum, .spdx) with their sha256, so a statement
binds each published file's bytes to one build of one source commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crio.errors import CrioError, ExitCode
from crio.revision import Revision

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
#: This toolkit's build type: `crio-release bundle` with a components spec (what externalParameters mean).
BUILD_TYPE = "https://github.com/cri-o/crio-release-toolkit/buildtypes/bundle/v1"
#: The resolvedDependencies entry that names the released source.
SOURCE_DEPENDENCY = "source"


@dataclass(frozen=True)
class Provenance:
    """The facts `verify` checks, read from a statement (the rest is kept as `data`)."""

    subjects: dict[str, str]          # name -> sha256
    revision: str
    source_uri: str
    source_commit: str
    data: dict[str, Any]


def statement(subjects: dict[str, str], *, revision: Revision, architectures: list[str], spec: dict[str, Any],
              source_uri: str, source_commit: str, dependencies: list[dict[str, Any]], builder_id: str,
              invocation_id: str | None, toolkit_version: str) -> dict[str, Any]:
    """The statement as a JSON-ready dict; `dependencies` are resolvedDependencies after the source."""
    source = {"name": SOURCE_DEPENDENCY, "uri": source_uri, "digest": {"gitCommit": source_commit}}
    metadata: dict[str, Any] = {"invocationId": invocation_id} if invocation_id else {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in sorted(subjects.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"revision": str(revision), "architectures": list(architectures),
                                       "spec": spec},
                "internalParameters": {"toolkitVersion": toolkit_version},
                "resolvedDependencies": [source, *dependencies],
            },
            "runDetails": {"builder": {"id": builder_id}, "metadata": metadata},
        },
    }


def dumps(data: dict[str, Any]) -> str:
    """The bytes written to disk: sorted keys, two-space indent, final newline (stable across runs)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse(text: str | bytes) -> Provenance:
    """Read a statement, refusing one that is not an in-toto v1 Statement with an SLSA v1 predicate."""
    try:
        data = json.loads(text)
        if data.get("_type") != STATEMENT_TYPE:
            raise ValueError(f"_type is {data.get('_type')!r}, expected {STATEMENT_TYPE}")
        if data.get("predicateType") != PREDICATE_TYPE:
            raise ValueError(f"predicateType is {data.get('predicateType')!r}, expected {PREDICATE_TYPE}")
        subjects: dict[str, str] = {}
        for subject in data["subject"]:
            name, digest = subject["name"], subject["digest"]["sha256"]
            if not isinstance(name, str) or not isinstance(digest, str) or name in subjects:
                raise ValueError(f"subject {name!r} is malformed or repeated")
            subjects[name] = digest.lower()
        definition = data["predicate"]["buildDefinition"]
        source = next(d for d in definition["resolvedDependencies"] if d.get("name") == SOURCE_DEPENDENCY)
        return Provenance(subjects, str(definition["externalParameters"]["revision"]), str(source["uri"]),
                          str(source["digest"]["gitCommit"]), data)
    except StopIteration:
        raise CrioError("provenance names no source dependency", ExitCode.VERIFICATION) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CrioError(f"provenance is not an in-toto v1 SLSA v1 statement: {exc}", ExitCode.VERIFICATION) from None


def problems(provenance: Provenance, revision: Revision, artifacts: dict[str, str]) -> list[str]:
    """Why the statement does not vouch for these published artifacts (name -> sha256) of `revision`."""
    found: list[str] = []
    if provenance.revision != str(revision):
        found.append(f"provenance is for revision {provenance.revision}, not {revision}")
    if revision.sha is not None and provenance.source_commit != str(revision):
        found.append(f"provenance source commit {provenance.source_commit} is not the revision {revision}")
    if revision.sha is None and not provenance.source_uri.endswith(f"@refs/tags/{revision}"):
        found.append(f"provenance source {provenance.source_uri} is not the tag {revision}")
    for name, digest in sorted(artifacts.items()):
        listed = provenance.subjects.get(name)
        if listed is None:
            found.append(f"provenance has no subject {name}")
        elif listed != digest:
            found.append(f"provenance subject {name} has sha256 {listed}, the published file has {digest}")
    return found
