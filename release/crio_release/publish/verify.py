"""Check a published revision from the bucket's side: download it and trust nothing until it adds up.

Every architecture must be there with its tarball, checksum file and SBOM; the
checksum file, the manifest and the object's bytes must agree; the SBOM must
parse as SPDX and describe this tarball; and every signature present must
verify with the trusted key (a signature that cannot be checked is reported,
not silently passed).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from crio.arch import DEFAULT_BUILD_ARCHITECTURES, normalize_arch
from crio.artifacts import (
    REQUIRED_ROLES,
    SIGSTORE_BUNDLE_SUFFIX,
    arch_files,
    manifest_bundle_name,
    manifest_name,
    manifest_signature_name,
    object_path,
    revision_files,
)
from crio.checksums import CHUNK, parse_sha256sum, sha256_file
from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy
from crio.manifest import RevisionManifest
from crio.revision import Revision
from crio.signing import VERIFY_KEY_ENV, verify_file
from crio_release.publish.completeness import parse_manifest
from crio_release.publish.storage import Storage, open_bucket

NO_KEY = "cannot verify signature: no key (pass --key PUB.pem or set CRIO_VERIFY_KEY)"
NO_POLICY = ("cannot verify keyless signature: no identity policy (pass --certificate-identity or "
             "--certificate-identity-regexp with --certificate-oidc-issuer)")


@dataclass(frozen=True)
class Trust:
    """What signatures are checked against: a public key for `.sig`, an identity policy for `.bundle`."""

    key: bytes | None = None
    keyless: IdentityPolicy | None = None
    trusted_root: Path | None = None


def load_verify_key(key_path: Path | None) -> bytes | None:
    """The PEM bytes of `--key`, or of the file CRIO_VERIFY_KEY names; None when neither is given."""
    path = key_path or (Path(os.environ[VERIFY_KEY_ENV]) if os.environ.get(VERIFY_KEY_ENV) else None)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CrioError(f"cannot read verification key {path}: {exc.strerror}", ExitCode.USAGE) from None


def verify_revision(bucket_url: str, revision: Revision, *, key: bytes | None = None,
                    archs: list[str] | None = None, keyless: IdentityPolicy | None = None,
                    trusted_root: Path | None = None) -> list[str]:
    """Every problem found with `revision` in the bucket, one sentence each; empty means it verifies."""
    storage = open_bucket(bucket_url)
    storage.check()
    wanted = list(dict.fromkeys(normalize_arch(a) for a in (archs or DEFAULT_BUILD_ARCHITECTURES)))
    trust = Trust(key, keyless, trusted_root)
    with tempfile.TemporaryDirectory(prefix="crio-verify-") as tmp:
        return _verify(storage, revision, wanted, trust, Path(tmp))


def _fetch(storage: Storage, name: str, workdir: Path) -> Path | None:
    path = object_path(name)
    if storage.stat(path) is None:
        return None
    dest = workdir / name
    storage.download(path, dest)
    return dest


def _check_signature(storage: Storage, signed: Path, signature_name: str, trust: Trust,
                     workdir: Path) -> list[str]:
    """Problems with the `.sig` (key) or `.bundle` (keyless) beside `signed`, if one is published."""
    signature = _fetch(storage, signature_name, workdir)
    if signature is None:
        return []
    try:
        if signature_name.endswith(SIGSTORE_BUNDLE_SUFFIX):
            if trust.keyless is None:
                return [f"{object_path(signature_name)}: {NO_POLICY}"]
            from crio.keyless import load_trusted_root, verify_bundle

            verify_bundle(signed, signature.read_bytes(), trust.keyless,
                          trusted_root=load_trusted_root(trust.trusted_root))
            return []
        if trust.key is None:
            return [f"{object_path(signature_name)}: {NO_KEY}"]
        verify_file(signed, signature.read_bytes(), trust.key)
    except CrioError as exc:
        return [f"{object_path(signature_name)}: {exc.message}"]
    return []


def _check_signatures(storage: Storage, signed: Path, names: tuple[str, ...], trust: Trust,
                      workdir: Path) -> list[str]:
    return [p for name in names for p in _check_signature(storage, signed, name, trust, workdir)]


def _verify(storage: Storage, revision: Revision, archs: list[str], trust: Trust, workdir: Path) -> list[str]:
    problems: list[str] = []
    manifest_file = _fetch(storage, manifest_name(revision), workdir)
    manifest: RevisionManifest | None = None
    if manifest_file is None:
        problems.append(f"{object_path(manifest_name(revision))} is missing")
    else:
        try:
            manifest = parse_manifest(manifest_file.read_bytes(), revision)
        except CrioError as exc:
            problems.append(f"{object_path(manifest_name(revision))}: {exc.message}")
        if manifest is not None and manifest.revision != str(revision):
            problems.append(f"the manifest names revision {manifest.revision}, expected {revision}")
        problems += _check_signatures(storage, manifest_file, (manifest_signature_name(revision),
                                                               manifest_bundle_name(revision)), trust, workdir)
    entries = manifest.by_name() if manifest else {}
    if manifest is not None:
        problems += [f"architecture {arch} is not in the manifest" for arch in archs
                     if arch not in manifest.architectures]

    checked: set[str] = set()
    digests: dict[str, str] = {}  # every published artifact of the checked architectures -> sha256
    for arch in archs:
        names = arch_files(arch, revision)
        local: dict[str, Path] = {}
        for role in ("tarball", "checksum", "sbom"):
            fetched = _fetch(storage, names[role], workdir)
            if fetched is None:
                problems.append(f"{object_path(names[role])} is missing ({arch} {role})")
            else:
                local[role] = fetched
        if set(local) != set(REQUIRED_ROLES):
            continue
        digest = sha256_file(local["tarball"])
        try:
            listed = parse_sha256sum(local["checksum"].read_text(encoding="utf-8", errors="replace"),
                                     names["tarball"])
            if listed != digest:
                problems.append(f"{object_path(names['checksum'])} says {listed}, the tarball has {digest}")
        except CrioError as exc:
            problems.append(f"{object_path(names['checksum'])}: {exc.message}")
        problems += _check_sbom(local["sbom"], local["tarball"], names["tarball"], digest, revision)
        for role, path in local.items():
            digests[names[role]] = sha256_file(path)
            problems += _against_manifest(manifest, entries, names[role], path)
            checked.add(names[role])
        problems += _check_signatures(storage, local["tarball"], (names["signature"], names["bundle"]), trust,
                                      workdir)
        problems += _check_signatures(storage, local["sbom"], (names["sbom_signature"], names["sbom_bundle"]),
                                      trust, workdir)
        checked.update((names["signature"], names["sbom_signature"], names["bundle"], names["sbom_bundle"]))

    problems += _check_provenance(storage, revision, digests, trust, workdir)
    # Files the manifest lists beyond the checked architectures must still be there and match.
    for name, entry in entries.items():
        if name in checked:
            continue
        info = storage.stat(object_path(name))
        if info is None:
            problems.append(f"{object_path(name)} is listed in the manifest but missing")
        elif info.size != entry.size:
            problems.append(f"{object_path(name)} has {info.size} bytes, the manifest says {entry.size}")
        elif info.sha256 is not None and info.sha256 != entry.sha256:
            problems.append(f"{object_path(name)} has sha256 {info.sha256}, the manifest says {entry.sha256}")
    return problems


def _check_provenance(storage: Storage, revision: Revision, digests: dict[str, str], trust: Trust,
                      workdir: Path) -> list[str]:
    """When a provenance statement is published: it parses, it is signed as the artifacts are, every
    published artifact is a subject with its digest, and its source is the revision."""
    from crio import provenance

    names = revision_files(revision)
    path = _fetch(storage, names["provenance"], workdir)
    if path is None:
        return []
    where = object_path(names["provenance"])
    try:
        statement = provenance.parse(path.read_bytes())
    except CrioError as exc:
        return [f"{where}: {exc.message}"]
    found = [f"{where}: {p}" for p in provenance.problems(statement, revision, digests)]
    for name in sorted(set(statement.subjects) - set(digests)):
        if "/" in name or name in ("", ".", "..") or storage.stat(object_path(name)) is None:
            found.append(f"{where} names {name[:120]!r}, which is not published")
    return found + _check_signatures(storage, path, (names["provenance_signature"], names["provenance_bundle"]),
                                     trust, workdir)


def _against_manifest(manifest: RevisionManifest | None, entries: dict, name: str, path: Path) -> list[str]:
    if manifest is None:
        return []
    entry = entries.get(name)
    if entry is None:
        return [f"{object_path(name)} is not listed in the manifest"]
    digest = sha256_file(path)
    if entry.size != path.stat().st_size or entry.sha256 != digest:
        return [f"{object_path(name)} has sha256 {digest} ({path.stat().st_size} bytes), "
                f"the manifest says {entry.sha256} ({entry.size} bytes)"]
    return []


def _check_sbom(sbom: Path, tarball_path: Path, tarball: str, digest: str, revision: Revision) -> list[str]:
    """The SBOM parses as SPDX, its package for this tarball carries the tarball's SHA256 (else its
    file name or version names it), and every file it lists is in the tarball with that SHA256."""
    from spdx_tools.spdx.model import ChecksumAlgorithm
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.parse_anything import parse_file

    where = object_path(sbom.name)
    logging.getLogger("spdx_tools").setLevel(logging.ERROR)
    try:
        document = parse_file(str(sbom))
    except SPDXParsingError as exc:
        first = exc.get_messages()[0] if exc.get_messages() else "unparseable"
        return [f"{where} is not a valid SPDX document: {' '.join(str(first).split())}"]
    except Exception as exc:  # spdx-tools raises assorted errors on garbage input
        return [f"{where} is not a valid SPDX document: {type(exc).__name__}"]
    packages = [p for p in document.packages if p.file_name == tarball] or document.packages
    sums = [c.value.lower() for p in packages for c in p.checksums if c.algorithm == ChecksumAlgorithm.SHA256]
    if sums and digest not in sums:
        return [f"{where} records sha256 {', '.join(sums)}, the tarball has {digest}"]
    if not sums and not any(p.file_name == tarball or p.version == str(revision) for p in packages):
        return [f"{where} describes no package named {tarball} or version {revision}"]
    listed = {f.name.removeprefix("./"): c.value.lower() for f in document.files for c in f.checksums
              if c.algorithm == ChecksumAlgorithm.SHA256}
    return _check_listed_files(where, tarball_path, listed) if listed else []


#: How many differing files a problem line names before it only counts the rest.
SHOWN_FILES = 3


def _check_listed_files(where: str, tarball_path: Path, listed: dict[str, str]) -> list[str]:
    """Stream the (untrusted) tarball, hashing only the regular files the SBOM lists; nothing is extracted."""
    found: dict[str, str] = {}
    try:
        # gzip.GzipFile, not tarfile's own "r|gz": a bundle is several gzip members (build/tarball.py)
        # and tarfile's stream reader stops after the first.
        with open(tarball_path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz, \
                tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or name not in listed:
                    continue
                digest = hashlib.sha256()
                handle = tar.extractfile(member)
                assert handle is not None
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                found[name] = digest.hexdigest()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return [f"{object_path(tarball_path.name)} cannot be read as tar.gz to check {where}: {type(exc).__name__}"]
    problems = []
    missing = sorted(set(listed) - set(found))
    differing = sorted(name for name in found if found[name] != listed[name])
    for label, names in (("lists files the tarball does not hold", missing),
                         ("records other sha256 than the tarball for", differing)):
        if names:
            more = f" and {len(names) - SHOWN_FILES} more" if len(names) > SHOWN_FILES else ""
            problems.append(f"{where} {label}: {', '.join(names[:SHOWN_FILES])}{more}")
    return problems
