"""`crio-release sign`: thin click wrapper over crio_release.publish.sign.sign_revision."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP
from crio.revision import Revision
from crio_release.commands.options import json_option, key_option, options, rev_option


@click.command("sign", epilog=f"""\b
Examples:
  crio-release sign --key release.pem --rev v1.38.0 dist
  CRIO_SIGNING_KEY=/run/secrets/release.pem crio-release sign --rev $GITHUB_SHA dist
  crio-release sign --keyless --rev $GITHUB_SHA dist      # in GitHub Actions (id-token: write)

\b
Writes TARBALL.sig and SBOM.sig for every architecture in the revision
manifest, updates the manifest to list them, then writes MANIFEST.sig.
Signatures are base64 ECDSA P-256 (cosign blob format, openssl-verifiable).
With --keyless, writes NAME.bundle instead (a Sigstore bundle made with the
CI job's ambient OIDC identity) for the same files and the provenance.
Markers are signed when `crio-release publish --key` moves them.
{EXIT_CODES_HELP}""")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@options(
    rev_option("Revision whose artifacts to sign"),
    key_option("private"),
    json_option("Print the files written as JSON."),
)
@click.option("--keyless", is_flag=True, help="Sign with the ambient CI identity through Sigstore (writes .bundle).")
@click.option("--trust-config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --keyless: ClientTrustConfig JSON of another Sigstore instance (default: public-good).")
def sign_command(directory: Path, revision: Revision, key_path: Path | None, keyless: bool,
                 trust_config: Path | None, as_json: bool) -> None:
    """Sign the tarballs, SBOMs, provenance and revision manifest that `crio-release bundle` wrote into DIRECTORY."""
    from crio_release.publish.sign import load_signing_key, sign_revision, sign_revision_keyless

    if keyless and key_path is not None:
        raise click.UsageError("--keyless and --key exclude each other")
    if keyless:
        from crio_release.publish.keyless import ambient_signer

        with ambient_signer(trust_config) as sign:
            written = sign_revision_keyless(directory, revision, sign)
    else:
        written = sign_revision(directory, revision, load_signing_key(key_path))
    if as_json:
        click.echo(json.dumps({"revision": str(revision), "files": [str(p) for p in written]}, indent=2))
    else:
        for path in written:
            click.echo(f"wrote {path}")
