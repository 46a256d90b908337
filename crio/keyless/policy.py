"""Who may have signed: the identity policy, spelled as cosign's `--certificate-*` flags.

Built on sigstore-python's policy classes, with two additions it lacks: an
identity regular expression (anchored at both ends, unlike cosign's search,
so `...obs.yml@.*` cannot match a longer identity elsewhere) and issuer and
GitHub checks that accept the newer Fulcio extensions (1.3.6.1.4.1.57264.1.8,
.12, .14) as well as the deprecated ones older certificates carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crio.errors import UsageError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

#: The signer of upstream's bucket (cri-o/packaging's OBS workflow on main, in GitHub Actions).
UPSTREAM_IDENTITY = "https://github.com/cri-o/packaging/.github/workflows/obs.yml@refs/heads/main"
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"

#: Fulcio's Sigstore-specific SAN (OtherName) type.
_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"


@dataclass(frozen=True)
class IdentityPolicy:
    """What the signing certificate must say. Exactly one of `identity`/`identity_regexp`; `issuer` required."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    github_workflow_repository: str | None = None
    github_workflow_ref: str | None = None

    def __post_init__(self) -> None:
        if bool(self.identity) == bool(self.identity_regexp):
            raise UsageError("a keyless policy needs exactly one of --certificate-identity or "
                             "--certificate-identity-regexp")
        if not self.issuer:
            raise UsageError("a keyless policy needs --certificate-oidc-issuer, such as "
                             f"{GITHUB_ACTIONS_ISSUER}")
        if self.identity_regexp:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise UsageError(f"invalid --certificate-identity-regexp {self.identity_regexp!r}: {exc}") from None
        repo = self.github_workflow_repository
        if repo is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise UsageError(f"invalid --certificate-github-workflow-repository {repo!r}: expected OWNER/REPO")

    def describe(self) -> str:
        """One line naming every condition, for messages."""
        who = self.identity or f"/{self.identity_regexp}/"
        parts = [f"identity {who}", f"issuer {self.issuer}"]
        if self.github_workflow_repository:
            parts.append(f"repository {self.github_workflow_repository}")
        if self.github_workflow_ref:
            parts.append(f"ref {self.github_workflow_ref}")
        return ", ".join(parts)

    def sigstore_policy(self):  # -> sigstore.verify.policy.VerificationPolicy
        """The policy as sigstore-python objects; every child must hold."""
        from sigstore.verify import policy as sp

        children: list = [_SubjectMatches(self.identity, self.identity_regexp),
                          _Either("OIDC issuer", sp.OIDCIssuer(self.issuer), sp.OIDCIssuerV2(self.issuer))]
        if self.github_workflow_repository:
            repo = self.github_workflow_repository
            children.append(_Either("GitHub workflow repository", sp.GitHubWorkflowRepository(repo),
                                    sp.OIDCSourceRepositoryURI(f"https://github.com/{repo}")))
        if self.github_workflow_ref:
            ref = self.github_workflow_ref
            children.append(_Either("GitHub workflow ref", sp.GitHubWorkflowRef(ref), sp.OIDCSourceRepositoryRef(ref)))
        return sp.AllOf(children)


UPSTREAM_SIGNER = IdentityPolicy(identity=UPSTREAM_IDENTITY, issuer=GITHUB_ACTIONS_ISSUER,
                                 github_workflow_repository="cri-o/packaging")


def certificate_subjects(cert: Certificate) -> list[str]:
    """Every identity a Fulcio certificate names: e-mail and URI SANs and Sigstore's OtherName."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [*san.get_values_for_type(x509.RFC822Name), *san.get_values_for_type(x509.UniformResourceIdentifier)]
    names += [o.value.decode(errors="replace") for o in san.get_values_for_type(x509.OtherName)
              if o.type_id.dotted_string == _OTHERNAME_OID]
    return names


def certificate_issuer(cert: Certificate) -> str | None:
    """The OIDC issuer a Fulcio certificate records (newer DER extension first, then the raw one)."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    for oid, der in (("1.3.6.1.4.1.57264.1.8", True), ("1.3.6.1.4.1.57264.1.1", False)):
        try:
            raw = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        value = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
        if der and len(value) > 2 and value[0] == 0x0C:  # UTF8String with a short or long length
            value = value[2:] if value[1] < 0x80 else value[2 + (value[1] & 0x7F):]
        return value.decode(errors="replace")
    return None


class _SubjectMatches:
    """The certificate names the identity (exactly) or one matching the regexp (whole string)."""

    def __init__(self, identity: str | None, regexp: str | None) -> None:
        self._identity, self._regexp = identity, re.compile(regexp) if regexp else None

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        names = certificate_subjects(cert)
        if self._regexp is not None:
            if any(self._regexp.fullmatch(n) for n in names):
                return
            wanted = f"one matching /{self._regexp.pattern}/"
        else:
            if self._identity in names:
                return
            wanted = self._identity
        raise VerificationError(f"certificate identity {', '.join(names) or '(none)'} is not {wanted}")


class _Either:
    """One named condition satisfied by either of two extensions (deprecated or current)."""

    def __init__(self, label: str, *children) -> None:
        self._label, self._children = label, children

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError

        reasons = []
        for child in self._children:
            try:
                child.verify(cert)
                return
            except VerificationError as exc:
                reasons.append(str(exc))
        raise VerificationError(f"{self._label} does not match the policy: {reasons[0]}")
