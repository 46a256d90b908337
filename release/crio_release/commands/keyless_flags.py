"""cosign's keyless verification flags, defined once for every command that checks Sigstore bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crio.keyless import IdentityPolicy

_FLAGS = (
    ("--certificate-identity", "identity", "Signer identity the certificate must name exactly (a workflow URI "
                                           "such as https://github.com/OWNER/REPO/.github/workflows/F.yml@REF)."),
    ("--certificate-identity-regexp", "identity_regexp", "Regular expression the whole identity must match."),
    ("--certificate-oidc-issuer", "issuer", "OIDC issuer, e.g. https://token.actions.githubusercontent.com."),
    ("--certificate-github-workflow-repository", "github_workflow_repository",
     "GitHub repository (OWNER/REPO) the signing workflow ran in."),
    ("--certificate-github-workflow-ref", "github_workflow_ref", "Git ref the signing workflow ran on."),
)


def keyless_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the identity flags and --trusted-root; the command receives `keyless` (an IdentityPolicy or
    None when no flag is given) and `trusted_root` (a path or None)."""
    for flag, name, help_text in reversed(_FLAGS):
        command = click.option(flag, f"kl_{name}", default=None, metavar="TEXT", help=help_text)(command)
    command = click.option("--trusted-root", "trusted_root", type=click.Path(dir_okay=False, path_type=Path),
                           default=None, help="trusted_root.json of the Sigstore instance (default: the "
                           "public-good instance's, embedded in the sigstore package).")(command)

    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(f"kl_{name}") for _, name, _ in _FLAGS}
        kwargs["keyless"] = IdentityPolicy(**values) if any(values.values()) else None
        return command.callback(**kwargs) if isinstance(command, click.Command) else command(**kwargs)

    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    wrapper.__click_params__ = getattr(command, "__click_params__", [])  # type: ignore[attr-defined]
    return wrapper
