"""Keyless (Sigstore) verification shared by `crio-release verify` and the installers.

A keyless signature is trusted when four things hold, all checked offline
against one trusted root (the public-good instance's, embedded in the
`sigstore` package, or a `trusted_root.json` for another instance): the
signing certificate chains to the root's Fulcio CAs at the time the
transparency log (or a timestamp authority) vouches for; that time lies in
the certificate's short validity; the certificate's identity matches the
policy; and the signature covers these very bytes. Three shapes are read:
the Sigstore bundle (v0.1-v0.3 JSON, what cosign v3 writes as `NAME.bundle`),
the older cosign bundle (`base64Signature`, `cert`, `rekorBundle`), and a
`.sig` + `.cert` pair with a Rekor bundle beside it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crio.keyless.policy import UPSTREAM_SIGNER, IdentityPolicy
    from crio.keyless.trust import PUBLIC_GOOD, load_trusted_root
    from crio.keyless.verify import KeylessResult, verify_bundle, verify_detached

#: Where each name below is defined: read on first use (PEP 562), so importing crio.keyless.policy
#: (crio-get's option help names upstream's signer) does not load the verifier and its imports.
_EXPORTS = {
    "PUBLIC_GOOD": "crio.keyless.trust",
    "UPSTREAM_SIGNER": "crio.keyless.policy",
    "IdentityPolicy": "crio.keyless.policy",
    "KeylessResult": "crio.keyless.verify",
    "load_trusted_root": "crio.keyless.trust",
    "verify_bundle": "crio.keyless.verify",
    "verify_detached": "crio.keyless.verify",
}

__all__ = [
    "PUBLIC_GOOD",
    "UPSTREAM_SIGNER",
    "IdentityPolicy",
    "KeylessResult",
    "load_trusted_root",
    "verify_bundle",
    "verify_detached",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
