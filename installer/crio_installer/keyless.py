"""Keyless signatures in crio-get: which policy applies, which evidence is fetched, what it binds.

Signatures are required by default: without -k and without identity flags
the policy is upstream's own signer (crio.keyless.UPSTREAM_SIGNER), for the
official bucket and mirrors alike, so a mirror that strips or replaces the
signature makes the install fail instead of falling back to an unsigned
sha256. The same rules, messages and exit codes are scripts/get's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crio.artifacts import (
    CERTIFICATE_SUFFIX,
    SIGNATURE_SUFFIX,
    SIGSTORE_BUNDLE_SUFFIX,
    provenance_bundle_name,
    provenance_name,
)
from crio.download import Fetcher, NotFound
from crio.errors import CrioError, ExitCode, UsageError
from crio.keyless.policy import UPSTREAM_SIGNER, IdentityPolicy

if TYPE_CHECKING:   # the verifier (and sigstore) is imported where a signature is checked
    from crio.keyless.verify import KeylessResult

Log = Callable[[str], None]

#: Evidence kinds, as scripts/get's keyless_verify names them.
KIND_BUNDLE = "bundle"
KIND_SIGCERT = "sigcert"

#: The ways out of a refused default policy, named in every such message (scripts/get says the same).
WAY_OUT = ("pass -k KEY.pem for a key-signed bucket, --certificate-identity (or --certificate-identity-regexp) "
           "with --certificate-oidc-issuer for another signer, or --insecure-skip-signature-verification "
           "(the sha256 is still checked)")

#: in-toto Statement types whose `subject` list binds names to digests.
_STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")


@dataclass(frozen=True)
class KeylessFlags:
    """The cosign-spelled policy flags as given (None when absent)."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    repository: str | None = None
    trusted_root: Path | None = None

    @property
    def any_identity(self) -> bool:
        return any((self.identity, self.identity_regexp, self.issuer, self.repository))


def choose_policy(flags: KeylessFlags, key_given: bool, skip: bool) -> IdentityPolicy | None:
    """The keyless policy of this run, or None when -k (a key) or the skip flag decides instead.

    Contradictions are usage errors: a key and identity flags name two different signers, and
    identity flags with the skip flag ask to check and not to check the same signature.
    """
    if flags.any_identity and key_given:
        raise UsageError("-k (or CRIO_VERIFY_KEY) and the --certificate-* flags exclude each other: "
                         "a revision is checked against a key or a keyless identity, not both")
    if flags.any_identity and skip:
        raise UsageError("--insecure-skip-signature-verification excludes the --certificate-* flags")
    if flags.trusted_root is not None and key_given:
        raise UsageError("--trusted-root is for keyless signatures: it excludes -k (or CRIO_VERIFY_KEY)")
    if skip or key_given:
        return None
    if not flags.any_identity:
        return UPSTREAM_SIGNER
    if not flags.identity and not flags.identity_regexp:
        raise UsageError("--certificate-oidc-issuer and --certificate-github-workflow-repository need "
                         "--certificate-identity or --certificate-identity-regexp")
    return IdentityPolicy(identity=flags.identity, identity_regexp=flags.identity_regexp, issuer=flags.issuer,
                          github_workflow_repository=flags.repository)


def load_root(flags: KeylessFlags):  # -> sigstore.models.TrustedRoot
    """--trusted-root FILE, else the public-good root embedded in the sigstore package (usage error if unreadable)."""
    from crio.keyless import load_trusted_root

    return load_trusted_root(flags.trusted_root)


@dataclass(frozen=True)
class Evidence:
    """A keyless signature as published beside an artifact: its kind and the files (name -> bytes)."""

    kind: str
    files: dict[str, bytes] = field(default_factory=dict)


def _optional(fetcher: Fetcher, url: str) -> bytes | None:
    try:
        return fetcher.read_small(url)
    except NotFound:
        return None


def fetch_evidence(fetcher: Fetcher, artifact_url: str, name: str) -> tuple[Evidence | None, bool]:
    """(`NAME.bundle`, else `NAME.sig` + `NAME.cert`, else None; whether a `.sig` is published at all)."""
    bundle = _optional(fetcher, artifact_url + SIGSTORE_BUNDLE_SUFFIX)
    if bundle is not None:
        return Evidence(KIND_BUNDLE, {name + SIGSTORE_BUNDLE_SUFFIX: bundle}), False
    signature = _optional(fetcher, artifact_url + SIGNATURE_SUFFIX)
    if signature is None:
        return None, False
    certificate = _optional(fetcher, artifact_url + CERTIFICATE_SUFFIX)
    if certificate is None:
        return None, True
    return Evidence(KIND_SIGCERT, {name + SIGNATURE_SUFFIX: signature, name + CERTIFICATE_SUFFIX: certificate}), True


def missing_signature(name: str, policy: IdentityPolicy, key_signed: bool) -> CrioError:
    """The refusal when no keyless signature is published, naming the ways out."""
    if key_signed:
        found = (f"{name} has a {SIGNATURE_SUFFIX} but no {CERTIFICATE_SUFFIX} or {SIGSTORE_BUNDLE_SUFFIX}: "
                 "it is signed with a key, not keyless")
    else:
        found = (f"no signature is published for {name} (looked for {SIGSTORE_BUNDLE_SUFFIX}, and "
                 f"{SIGNATURE_SUFFIX} + {CERTIFICATE_SUFFIX})")
    return CrioError(f"{found}; signatures are required ({policy.describe()}): {WAY_OUT}", ExitCode.VERIFICATION)


def verify_evidence(name: str, digest: bytes, evidence: Evidence, policy: IdentityPolicy, root) -> KeylessResult:
    """Verify the evidence over the artifact's sha256 `digest` (exit 6 naming what did not hold)."""
    from crio.keyless import verify_bundle, verify_detached

    if evidence.kind == KIND_BUNDLE:
        return verify_bundle(Path(name), evidence.files[name + SIGSTORE_BUNDLE_SUFFIX], policy,
                             trusted_root=root, digest=digest)
    return verify_detached(Path(name), evidence.files[name + SIGNATURE_SUFFIX],
                           evidence.files[name + CERTIFICATE_SUFFIX], None, policy, trusted_root=root, digest=digest)


def statement_subjects(data: bytes, what: str) -> dict[str, str]:
    """name -> sha256 of an in-toto statement's subjects (verification error if it is not one)."""
    try:
        statement = json.loads(data)
        if statement.get("_type") not in _STATEMENT_TYPES:
            raise ValueError(f"_type is {statement.get('_type')!r}")
        subjects: dict[str, str] = {}
        for subject in statement["subject"]:
            name, digest = subject["name"], subject["digest"].get("sha256")
            if isinstance(name, str) and isinstance(digest, str):
                subjects.setdefault(name, digest.lower())
        return subjects
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CrioError(f"{what} is not an in-toto statement with subjects: {exc}", ExitCode.VERIFICATION) from None


def check_provenance(fetcher: Fetcher, directory_url: str, revision: str, name: str, sha256: str,
                     policy: IdentityPolicy, root, log: Log) -> dict[str, bytes]:
    """When the revision's provenance is published: signed by the policy, naming `name` with `sha256`.

    Returns the files to keep beside a -d download (empty when none is published).
    """
    from crio.keyless import verify_bundle

    prov, prov_bundle = provenance_name(revision), provenance_bundle_name(revision)
    data = _optional(fetcher, f"{directory_url}/{prov}")
    if data is None:
        log(f"WARNING: no provenance is published for {revision}: {name} is bound to its revision by its "
            "name and signature only")
        return {}
    signature = _optional(fetcher, f"{directory_url}/{prov_bundle}")
    if signature is None:
        raise CrioError(f"the provenance {prov} is published but not signed: {prov_bundle} not found",
                        ExitCode.VERIFICATION)
    verify_bundle(Path(prov), signature, policy, trusted_root=root, digest=hashlib.sha256(data).digest())
    listed = statement_subjects(data, prov).get(name)
    if listed is None:
        raise CrioError(f"the provenance {prov} does not name {name} among its subjects", ExitCode.VERIFICATION)
    if listed != sha256:
        raise CrioError(f"the provenance {prov} says {name} has sha256 {listed}, the published checksum says "
                        f"{sha256}", ExitCode.VERIFICATION)
    log(f"provenance (keyless signature verified): {name} is a subject of {revision} with this sha256")
    return {prov: data, prov_bundle: signature}


def verify_keyless(fetcher: Fetcher, tarball_url: str, revision: str, name: str, sha256: str,
                   policy: IdentityPolicy, root, log: Log) -> tuple[int, dict[str, bytes], str]:
    """The tarball's keyless signature over the sha256 it must have, then the provenance binding.

    Returns the log's time of the signature (the downgrade rule's build time), the evidence
    files a -d download keeps beside the tarball, so `-f` verifies the same offline later, and
    the signer's identity from its certificate (recorded as the install's signer).
    """
    evidence, key_signed = fetch_evidence(fetcher, tarball_url, name)
    if evidence is None:
        raise missing_signature(name, policy, key_signed)
    result = verify_evidence(name, bytes.fromhex(sha256), evidence, policy, root)
    log(f"keyless signature verified: {result.line()}")
    kept = dict(evidence.files)
    kept.update(check_provenance(fetcher, tarball_url.rsplit("/", 1)[0], revision, name, sha256, policy, root, log))
    return result.log_time, kept, result.identity
