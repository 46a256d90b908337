"""Small, real revision sets for publisher tests (and for anyone who needs a publishable directory).

`make_revision_set` lays files out exactly as the bundle builder does, by the
names in crio.artifacts, with a real gzip tarball, a sha256sum file, an SPDX 2.3
tag-value SBOM that spdx-tools parses and the per-revision manifest of
crio.manifest; with a private key it also writes the .sig files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from crio.artifacts import BUNDLE_TOP, arch_files, manifest_signature_name
from crio.checksums import format_sha256sum, sha256_file
from crio.manifest import build_revision_manifest, write_revision_manifest
from crio.revision import Revision, parse_revision
from crio.signing import sign_file


def _tarball(path: Path, arch: str, revision: str, payload: bytes) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = f"crio {revision} {arch}\n".encode() + payload
        info = tarfile.TarInfo(f"{BUNDLE_TOP}/bin/crio")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def spdx_document(tarball: str, digest: str, revision: str, files: dict[str, bytes] | None = None) -> str:
    """A minimal SPDX 2.3 tag-value SBOM describing the tarball as one package, optionally with
    file entries (name as in the tar -> the content whose SHA1/SHA256 it records)."""
    uid = hashlib.sha256(f"{tarball}{digest}".encode()).hexdigest()[:16]
    entries = "".join(
        f"\nFileName: ./{name}\nSPDXID: SPDXRef-File-{index}\n"
        f"FileChecksum: SHA1: {hashlib.sha1(data).hexdigest()}\n"
        f"FileChecksum: SHA256: {hashlib.sha256(data).hexdigest()}\n"
        "LicenseConcluded: NOASSERTION\nFileCopyrightText: NOASSERTION\n"
        for index, (name, data) in enumerate((files or {}).items(), 1))
    return (
        "SPDXVersion: SPDX-2.3\n"
        "DataLicense: CC0-1.0\n"
        "SPDXID: SPDXRef-DOCUMENT\n"
        f"DocumentName: {tarball}\n"
        f"DocumentNamespace: https://example.invalid/spdx/{uid}\n"
        "Creator: Tool: crio-release-tests\n"
        "Created: 2026-01-01T00:00:00Z\n"
        "\n"
        "PackageName: cri-o\n"
        "SPDXID: SPDXRef-Package-cri-o\n"
        f"PackageVersion: {revision}\n"
        f"PackageFileName: {tarball}\n"
        "PackageDownloadLocation: NOASSERTION\n"
        "FilesAnalyzed: false\n"
        f"PackageChecksum: SHA256: {digest}\n"
        "PackageLicenseConcluded: Apache-2.0\n"
        "PackageLicenseDeclared: Apache-2.0\n"
        "PackageCopyrightText: NOASSERTION\n"
        "\n"
        "Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-cri-o\n"
        + entries
    )


def make_revision_set(directory: Path, revision: Revision | str, archs: tuple[str, ...] = ("amd64", "arm64"), *,
                      payload: bytes = b"", private_key: bytes | None = None, version: str = "1.22.0") -> Path:
    """Write a complete set of `revision` for `archs` into `directory` (created); return the directory."""
    rev = revision if isinstance(revision, Revision) else parse_revision(revision)
    directory.mkdir(parents=True, exist_ok=True)
    for arch in archs:
        names = arch_files(arch, rev)
        tarball = directory / names["tarball"]
        _tarball(tarball, arch, str(rev), payload)
        digest = sha256_file(tarball)
        (directory / names["checksum"]).write_text(format_sha256sum(digest, names["tarball"]))
        (directory / names["sbom"]).write_text(spdx_document(names["tarball"], digest, str(rev)))
        if private_key is not None:
            (directory / names["signature"]).write_bytes(sign_file(tarball, private_key))
            (directory / names["sbom_signature"]).write_bytes(sign_file(directory / names["sbom"], private_key))
    manifest = build_revision_manifest(directory, rev, list(archs), version)
    path = write_revision_manifest(directory, manifest)
    if private_key is not None:
        (directory / manifest_signature_name(rev)).write_bytes(sign_file(path, private_key))
    return directory


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file below root with its bytes: compare before/after to prove nothing was written."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def bucket_state(bucket_url: str) -> object:
    """A comparable picture of a bucket: every byte for file://, every object's generation and md5 for gs://."""
    from crio_release.publish.storage import open_bucket

    if bucket_url.startswith("file://"):
        from urllib.parse import urlparse

        return tree_snapshot(Path(urlparse(bucket_url).path))
    return [(o.path, o.generation, o.size, o.md5, o.sha256) for o in open_bucket(bucket_url).list()]


def race_publisher(bucket_url: str, revision: str, directory: str, emulator: str | None, barrier: object) -> str:
    """One concurrent publisher process for race tests: wait at the barrier, publish, return the marker lines."""
    import os

    from crio_release.publish.publish import publish_revision

    if emulator:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator
    barrier.wait()  # type: ignore[attr-defined]
    report = publish_revision(bucket_url, parse_revision(revision), Path(directory))
    return "\n".join(m.line() for m in report.markers)


def part_publisher(bucket_url: str, revision: str, directory: str, arch: str, emulator: str | None,
                   barrier: object) -> dict[str, object]:
    """One runner's publish (`--arch ARCH`) in its own process for race tests: wait at the barrier, publish,
    return what it did to the markers (marker -> outcome, and the generation it read back) and whether it waited."""
    import os
    import re

    from crio_release.publish.publish import publish_revision

    if emulator:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator
    barrier.wait()  # type: ignore[attr-defined]
    report = publish_revision(bucket_url, parse_revision(revision), Path(directory), archs=[arch])
    generations = {m.marker: int(found[1]) for m in report.markers
                   if (found := re.search(r"generation (\d+)\)", m.message))}
    return {"arch": arch, "markers": {m.marker: str(m.outcome) for m in report.markers},
            "generations": generations, "waiting": list(report.waiting), "lines": report.lines()}
