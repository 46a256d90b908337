"""Signing a merged revision manifest: the publish that completes the configured set signs it again.

Each runner signs its own tarballs and SBOMs (their signatures are per file
and stay valid), but the manifest it signed lists only its architectures. The
rule: a runner uploads its manifest signature only when the bucket's manifest
is byte for byte the one it signed (a single publish of the whole set);
otherwise the publish whose merge completes the set signs the merged bytes
with the signer it is given (`--key` for `.sig`, `--keyless` for `.bundle`)
and writes the signature create-only, before any marker moves. A runner with
a signed partial set and no signer is refused before it uploads anything,
because it may be the one that completes the set.

Weakness, stated: the merged manifest is signed by the completing runner's
key or identity, not by each runner's; a verifier trusts the completing
runner for every architecture's entry (the per-file signatures, made by each
runner, still bind each tarball and SBOM). And until the set is complete the
bucket's manifest is unsigned; markers never name it in that state.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crio.artifacts import (
    IMMUTABLE_CACHE_CONTROL,
    SIGNATURE_SUFFIX,
    SIGSTORE_BUNDLE_SUFFIX,
    manifest_name,
    object_path,
    revision_files,
)
from crio.errors import CrioError, ExitCode
from crio.revision import Revision
from crio.signing import public_key_of, sign_file, verify_file
from crio_release.publish.storage import PreconditionFailed, Storage

_TYPES = {SIGNATURE_SUFFIX: "text/plain", SIGSTORE_BUNDLE_SUFFIX: "application/json"}


@dataclass(frozen=True)
class ManifestSigners:
    """What a publish can sign a merged manifest with: a PEM private key (`.sig`), a keyless signer (`.bundle`)."""

    key: bytes | None = None
    keyless: Callable[[Path], bytes] | None = None

    def sign(self, suffix: str, path: Path) -> bytes | None:
        """The signature of `path` of the kind `suffix` names; None when this publish has no such signer."""
        if suffix == SIGNATURE_SUFFIX and self.key is not None:
            return sign_file(path, self.key)
        if suffix == SIGSTORE_BUNDLE_SUFFIX and self.keyless is not None:
            return self.keyless(path)
        return None

    def has(self, suffix: str) -> bool:
        return (self.key if suffix == SIGNATURE_SUFFIX else self.keyless) is not None


def check_partial_set(directory: Path, revision: Revision, local_archs: list[str], expected: list[str],
                      signature_suffixes: list[str], signers: ManifestSigners) -> None:
    """Refuse, before any upload, a per-runner publish that could not finish its part of the job.

    A set covering only some of the configured architectures may be the one that
    completes the revision: if its manifest was signed, it must be able to sign
    the merged one. It cannot publish the per-revision provenance either, which
    describes every architecture's artifacts.
    """
    missing = [arch for arch in expected if arch not in local_archs]
    if not missing:
        return
    part = f"{directory} holds {', '.join(local_archs)} of {', '.join(expected)} (a per-runner publish)"
    provenance = revision_files(revision)["provenance"]
    if (directory / provenance).is_file():
        raise CrioError(f"{part}, but also {provenance}, which must describe every architecture: write and "
                        "publish the provenance from a merged set (crio-release merge), not per runner",
                        ExitCode.USAGE)
    if signers.key is not None:
        public_key_of(signers.key)  # a bad key fails now, not after the uploads
    flags = {SIGNATURE_SUFFIX: "--key (or CRIO_SIGNING_KEY)", SIGSTORE_BUNDLE_SUFFIX: "--keyless"}
    lacking = [flags[suffix] for suffix in signature_suffixes if not signers.has(suffix)]
    if lacking:
        raise CrioError(f"{part}, and its manifest is signed: the publish that completes the set signs the merged "
                        f"manifest again, so pass {' and '.join(lacking)}", ExitCode.USAGE)


def sign_merged_manifest(storage: Storage, revision: Revision, data: bytes, suffixes: list[str],
                         signers: ManifestSigners) -> list[str]:
    """Sign the merged manifest `data` with each kind in `suffixes` and write each create-only; report lines.

    A signature already there was written by another completing publish of the
    same bytes (a published signature seals the manifest, see manifest_merge):
    a `.sig` is kept when it verifies with this key, refused otherwise; a
    `.bundle` is kept (its identity is checked by `crio-release verify`).
    """
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="crio-manifest-") as tmp:
        signed = Path(tmp) / manifest_name(revision)
        signed.write_bytes(data)
        for suffix in suffixes:
            path = object_path(manifest_name(revision) + suffix)
            signature = signers.sign(suffix, signed)
            if signature is None:
                raise CrioError(f"cannot sign the merged {manifest_name(revision)}: no signer for {suffix} "
                                "(pass --key or --keyless); no marker moved", ExitCode.USAGE)
            try:
                storage.write_bytes(path, signature, content_type=_TYPES[suffix],
                                    cache_control=IMMUTABLE_CACHE_CONTROL, if_generation_match=0)
            except PreconditionFailed:
                lines.append(_existing(storage, path, signed, suffix, signers))
                continue
            lines.append(f"sign   {path}: the merged manifest ({len(data)} bytes), if_generation_match=0")
    return lines


def _existing(storage: Storage, path: str, signed: Path, suffix: str, signers: ManifestSigners) -> str:
    found = storage.read(path)
    if found is None:
        raise CrioError(f"{path} vanished while being written; run the publish again", ExitCode.STORAGE_UNREACHABLE)
    if suffix == SIGNATURE_SUFFIX and signers.key is not None:
        try:
            verify_file(signed, found[0], public_key_of(signers.key))
        except CrioError:
            raise CrioError(f"{path} is already published and does not verify with this key for the merged "
                            "manifest: published signatures are immutable", ExitCode.IMMUTABLE_CONFLICT) from None
    return f"skip   {path}: already signed"
