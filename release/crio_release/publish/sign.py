"""Sign a revision's built artifacts: a `.sig` beside each tarball and SBOM, and one for the revision manifest.

Only what the build described is signed: every file is checked against the
revision manifest's sha256 first, so a file swapped after the build is
refused rather than blessed. The manifest is then rewritten to list the new
signatures (crio.manifest picks up the optional roles) and signed last, so
the publisher and installers can verify the whole set from one signature.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from crio.artifacts import (
    arch_files,
    manifest_bundle_name,
    manifest_signature_name,
    revision_files,
)
from crio.errors import CrioError, ExitCode
from crio.manifest import (
    build_revision_manifest,
    checked_entry_path,
    read_local_manifest,
    write_revision_manifest,
)
from crio.revision import Revision
from crio.signing import SIGNING_KEY_ENV, public_key_of, sign_file, verify_file

#: Roles of the revision manifest that get a signature, and the role of that signature.
SIGNED_ROLES = {"tarball": "signature", "sbom": "sbom_signature"}
#: The same for keyless signatures (Sigstore bundles).
BUNDLE_ROLES = {"tarball": "bundle", "sbom": "sbom_bundle"}


def load_signing_key(key_path: Path | None) -> bytes:
    """The PEM bytes of `--key`, or of the file CRIO_SIGNING_KEY names; never echoed anywhere."""
    path = key_path or (Path(os.environ[SIGNING_KEY_ENV]) if os.environ.get(SIGNING_KEY_ENV) else None)
    if path is None:
        raise CrioError(f"no signing key: pass --key FILE.pem or set {SIGNING_KEY_ENV} to its path", ExitCode.USAGE)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CrioError(f"cannot read signing key {path}: {exc.strerror}", ExitCode.USAGE) from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _still_valid(path: Path, sig_path: Path, public_pem: bytes) -> bool:
    """Whether an existing signature already signs `path` with this key.

    ECDSA signatures differ on every run; keeping a valid one makes signing
    idempotent, so re-publishing an unchanged revision uploads nothing.
    """
    if not sig_path.is_file():
        return False
    try:
        verify_file(path, sig_path.read_bytes(), public_pem)
    except CrioError:
        return False
    return True


def sign_revision(directory: Path, revision: Revision, key_pem: bytes) -> list[Path]:
    """Write the signatures of `revision`'s artifacts in `directory`; returns the files written."""
    public = public_key_of(key_pem)
    return _sign_set(directory, revision, SIGNED_ROLES, lambda path: sign_file(path, key_pem),
                     lambda path, sig: _still_valid(path, sig, public), manifest_signature_name(revision),
                     revision_files(revision)["provenance_signature"])


def sign_revision_keyless(directory: Path, revision: Revision, sign: Callable[[Path], bytes]) -> list[Path]:
    """Write a Sigstore bundle beside each artifact, the provenance and the manifest (see keyless.py)."""
    return _sign_set(directory, revision, BUNDLE_ROLES, sign, lambda _path, _sig: False,
                     manifest_bundle_name(revision), revision_files(revision)["provenance_bundle"])


def _sign_set(directory: Path, revision: Revision, roles: dict[str, str], sign: Callable[[Path], bytes],
              keep: Callable[[Path, Path], bool], manifest_sig_name: str, provenance_sig_name: str) -> list[Path]:
    """Sign every manifest entry of `roles` (checked against its sha256 first), the provenance when the
    directory holds one, then the manifest rewritten to list the new files."""
    manifest_path, manifest = read_local_manifest(directory, revision)
    signatures: dict[Path, bytes] = {}
    for entry in sorted(manifest.files, key=lambda e: e.name):
        if entry.role not in roles:
            continue
        path = checked_entry_path(directory, entry, "sign")
        sig_path = directory / arch_files(entry.arch, revision)[roles[entry.role]]
        if not keep(path, sig_path):
            signatures[sig_path] = sign(path)
    provenance = directory / revision_files(revision)["provenance"]
    if provenance.is_file() and not keep(provenance, directory / provenance_sig_name):
        signatures[directory / provenance_sig_name] = sign(provenance)
    # Sign everything in memory first: a bad key fails before any file is written.
    for path, signature in signatures.items():
        _write_atomic(path, signature)
    updated = build_revision_manifest(directory, revision, manifest.architectures, manifest.version,
                                      manifest.source_date_epoch)
    write_revision_manifest(directory, updated)
    manifest_sig = directory / manifest_sig_name
    if not keep(manifest_path, manifest_sig):
        _write_atomic(manifest_sig, sign(manifest_path))
    return [*signatures, manifest_path, manifest_sig]
