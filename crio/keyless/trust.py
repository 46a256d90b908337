"""The root of trust: the public-good instance's trusted root as shipped inside `sigstore`, or a file.

The embedded copy is read straight from the installed package, never from
sigstore-python's per-user TUF cache, which any earlier process on the node
could have written (files already on the node may be planted).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crio.errors import CrioError, ExitCode

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

#: The public-good Sigstore instance's TUF repository (names the embedded trusted root).
PUBLIC_GOOD = "https://tuf-repo-cdn.sigstore.dev"
#: Sigstore's staging instance (its trusted root is embedded too; public test data uses it).
STAGING = "https://tuf-repo-cdn.sigstage.dev"


def embedded_trusted_root_json(instance: str = PUBLIC_GOOD) -> bytes:
    """The trusted_root.json the installed `sigstore` package carries for an instance."""
    from sigstore._utils import read_embedded

    try:
        return read_embedded("trusted_root.json", instance)
    except FileNotFoundError:
        raise CrioError(f"the installed sigstore package carries no trusted root for {instance}",
                        ExitCode.MISSING_TOOL) from None


def load_trusted_root(path: Path | None = None, instance: str = PUBLIC_GOOD) -> TrustedRoot:
    """The trusted root in `path` (a trusted_root.json), else the embedded one of `instance`."""
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1

    if path is None:
        data, where = embedded_trusted_root_json(instance), f"embedded trusted root of {instance}"
    else:
        try:
            data, where = Path(path).read_bytes(), str(path)
        except OSError as exc:
            raise CrioError(f"cannot read trusted root {path}: {exc.strerror}", ExitCode.USAGE) from None
    try:
        return TrustedRoot(v1.TrustedRoot.from_json(data))
    except Exception as exc:  # pydantic/ValueError/sigstore Error on anything malformed
        first = " ".join(str(exc).split())[:160]
        raise CrioError(f"{where} is not a Sigstore trusted_root.json: {first}", ExitCode.USAGE) from None
