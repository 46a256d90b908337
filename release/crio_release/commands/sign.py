"""`crio-release sign`: thin click wrapper over crio_release.publish.sign.sign_revision."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crio.cli import EXIT_CODES_HELP
from crio.revision import parse_revision


@click.command("sign", epilog=f"""\b
Examples:
  crio-release sign --key release.pem --rev v1.38.0 dist
  CRIO_SIGNING_KEY=/run/secrets/release.pem crio-release sign --rev $GITHUB_SHA dist

\b
Writes TARBALL.sig and SBOM.sig for every architecture in the revision
manifest, updates the manifest to list them, then writes MANIFEST.sig.
Signatures are base64 ECDSA P-256 (cosign blob format, openssl-verifiable).
Markers are signed when `crio-release publish --key` moves them.
{EXIT_CODES_HELP}""")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rev", "rev", required=True, help="Revision whose artifacts to sign: a full commit SHA or vX.Y.Z.")
@click.option("--key", "key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM ECDSA P-256 private key (default: the file named by CRIO_SIGNING_KEY).")
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
def sign_command(directory: Path, rev: str, key: Path | None, as_json: bool) -> None:
    """Sign the tarballs, SBOMs and revision manifest that `crio-release bundle` wrote into DIRECTORY."""
    from crio_release.publish.sign import load_signing_key, sign_revision

    revision = parse_revision(rev)
    written = sign_revision(directory, revision, load_signing_key(key))
    if as_json:
        click.echo(json.dumps({"revision": str(revision), "files": [str(p) for p in written]}, indent=2))
    else:
        for path in written:
            click.echo(f"wrote {path}")
