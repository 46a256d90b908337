"""The SPDX 2.3 tag-value SBOM written beside each tarball, validated with spdx-tools before it is kept.

One package for the bundle (every file, with the package verification code
SPDX asks for), one package per component (version, declared licence,
download location) and each file with its SHA1 and SHA256, taken from the
same streaming pass that wrote the tarball. Deterministic: the namespace is
derived from the tarball's name and hash, the creation time from the
bundle's mtime, so the same bundle always gets the same SBOM.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio_release.build.spec import LICENSING_LOCK, Component, Source, spdx_licensing
from crio_release.build.tarball import FileRecord, compressor_description

NAMESPACE_BASE = "https://cri-o.io/spdx"
BUNDLE_ID = "SPDXRef-Package-bundle"


@dataclass(frozen=True)
class SbomInput:
    tarball_name: str
    tarball_sha256: str
    revision: Revision
    version: str
    arch: str
    mtime: int
    components: list[tuple[Component, Source]]
    records: list[FileRecord]         # names as in the tar (cri-o/...)
    file_owner: dict[str, str]        # tar name -> component name ("bundle" for the builder's own files)


def _spdx_id(prefix: str, text: str) -> str:
    return f"SPDXRef-{prefix}-{re.sub(r'[^A-Za-z0-9.-]', '-', text)}"


def verification_code(records: list[FileRecord]) -> str:
    """SPDX 2.3 §7.9: SHA1 of the sorted, concatenated SHA1s of the package's files."""
    joined = "".join(sorted(r.sha1 for r in records))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - defined by SPDX


def build_document(data: SbomInput):  # -> spdx_tools Document (imported lazily: spdx-tools is slow to import)
    """The SPDX document: creation info, the bundle and component packages, the files, and how they relate."""
    from spdx_tools.spdx.model import Document, Relationship, RelationshipType

    created = datetime.fromtimestamp(data.mtime, UTC)
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, BUNDLE_ID)]
    components, component_ids = _component_packages(data, relationships)
    files = _files(data, component_ids, relationships)
    return Document(_creation_info(data, created), packages=[_bundle_package(data, created), *components],
                    files=files, relationships=relationships)


def _creation_info(data: SbomInput, created: datetime):  # -> CreationInfo
    from spdx_tools.spdx.model import Actor, ActorType, CreationInfo

    return CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=data.tarball_name,
        document_namespace=f"{NAMESPACE_BASE}/{data.tarball_name}-{data.tarball_sha256}",
        creators=[Actor(ActorType.TOOL, f"crio-release-{data.version}")],
        created=created,
        creator_comment=f"Compressed with {compressor_description()}.",
    )


def _bundle_package(data: SbomInput, created: datetime):  # -> Package
    """The tarball itself: every file analysed, with SPDX's package verification code."""
    from spdx_tools.spdx.model import (
        Checksum,
        ChecksumAlgorithm,
        Package,
        PackagePurpose,
        PackageVerificationCode,
        SpdxNoAssertion,
    )

    return Package(
        spdx_id=BUNDLE_ID,
        name="cri-o",
        download_location=SpdxNoAssertion(),
        version=str(data.revision),
        file_name=data.tarball_name,
        files_analyzed=True,
        verification_code=PackageVerificationCode(verification_code(data.records)),
        checksums=[Checksum(ChecksumAlgorithm.SHA256, data.tarball_sha256)],
        homepage="https://cri-o.io",
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.ARCHIVE,
        comment=f"CRI-O {data.version} static bundle for linux/{data.arch}, revision {data.revision}.",
        built_date=created,
    )


def _component_packages(data: SbomInput, relationships: list) -> tuple[list, dict[str, str]]:
    """One package per component (version, declared licence, source) that the bundle CONTAINS;
    returns them with each component's SPDX id."""
    from spdx_tools.spdx.model import (
        Checksum,
        ChecksumAlgorithm,
        Package,
        Relationship,
        RelationshipType,
        SpdxNoAssertion,
    )

    licensing = spdx_licensing()
    packages = []
    component_ids: dict[str, str] = {}
    for index, (component, source) in enumerate(data.components, 1):
        spdx_id = _spdx_id("Package", component.name)
        if spdx_id in component_ids.values() or spdx_id == BUNDLE_ID:   # "a+b" and "a-b" sanitise alike
            spdx_id = f"{spdx_id}-{index}"
        component_ids[component.name] = spdx_id
        packages.append(Package(
            spdx_id=spdx_id,
            name=component.name,
            download_location=_download_location(source) or SpdxNoAssertion(),
            version=component.version,
            files_analyzed=False,
            checksums=[Checksum(ChecksumAlgorithm.SHA256, source.sha256)] if source.sha256 else [],
            homepage=component.homepage or SpdxNoAssertion(),
            license_concluded=SpdxNoAssertion(),
            license_declared=licensing.parse(component.license),
            copyright_text=SpdxNoAssertion(),
            source_info=_source_info(source),
        ))
        relationships.append(Relationship(BUNDLE_ID, RelationshipType.CONTAINS, spdx_id))
    return packages, component_ids


def _files(data: SbomInput, component_ids: dict[str, str], relationships: list) -> list:
    """Each file with its SHA1 and SHA256, CONTAINED in the bundle and GENERATED_FROM its component."""
    from spdx_tools.spdx.model import (
        Checksum,
        ChecksumAlgorithm,
        File,
        Relationship,
        RelationshipType,
        SpdxNoAssertion,
    )

    files = []
    for index, record in enumerate(data.records, 1):
        file_id = f"SPDXRef-File-{index}"
        files.append(File(
            name=f"./{record.name}",
            spdx_id=file_id,
            checksums=[Checksum(ChecksumAlgorithm.SHA1, record.sha1), Checksum(ChecksumAlgorithm.SHA256, record.sha256)],
            license_concluded=SpdxNoAssertion(),
            copyright_text=SpdxNoAssertion(),
        ))
        relationships.append(Relationship(BUNDLE_ID, RelationshipType.CONTAINS, file_id))
        owner = component_ids.get(data.file_owner.get(record.name, ""))
        if owner is not None:
            relationships.append(Relationship(file_id, RelationshipType.GENERATED_FROM, owner))
    return files


def _download_location(source: Source) -> str | None:
    """The url when SPDX's download-location grammar accepts it (it refuses e.g. IP:port hosts), else None;
    the url is always kept in the package's source info."""
    from spdx_tools.spdx.validation.uri_validators import validate_download_location

    if source.kind != "url" or not source.url or validate_download_location(source.url):
        return None
    return source.url


def _source_info(source: Source) -> str:
    if source.kind == "url":
        return f"downloaded from {source.url}, sha256 {source.sha256}" + (
            f", members {', '.join(source.members)}" if source.members else "")
    if source.kind == "nix":
        return f"nix attribute {source.nix}, members {', '.join(source.members)}"
    if source.kind == "build":
        return f"built from this repository by {source.build}"
    return "copied from the release repository"


def render_sbom(data: SbomInput) -> str:
    """The validated tag-value text; an invalid document is a BUILD error naming the first problem."""
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    from spdx_tools.spdx.writer.tagvalue.tagvalue_writer import write_document_to_stream

    with LICENSING_LOCK:  # spdx-tools parses licence expressions with license-expression's shared tokenizer
        document = build_document(data)
        problems = validate_full_spdx_document(document, "SPDX-2.3")
    if problems:
        raise CrioError(
            f"SBOM of {data.tarball_name} does not validate: {problems[0].validation_message} "
            f"({len(problems)} problem(s))",
            ExitCode.BUILD,
        )
    text = io.StringIO()
    with LICENSING_LOCK:
        write_document_to_stream(document, text, validate=False)
    return text.getvalue()


def write_sbom(path: Path, data: SbomInput) -> None:
    path.write_text(render_sbom(data), encoding="utf-8")
