"""`crio-get`: the Python twin of scripts/get, same options and exit codes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from crio.cli import run_main
from crio.errors import INSTALLER_CODES, CrioError, exit_code_help
from crio.keyless.policy import GITHUB_ACTIONS_ISSUER, UPSTREAM_IDENTITY
from crio.urls import redact
from crio_installer.get import Options, run

EXIT_CODES = exit_code_help(INSTALLER_CODES)


@click.command(
    name="crio-get",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nVerification: the sha256 is always checked, and a signature is required. Without -k and\n"
    "without --certificate-* flags the tarball's keyless signature (NAME.bundle, else NAME.sig +\n"
    "NAME.cert) must be upstream's: identity " + UPSTREAM_IDENTITY + ",\n"
    "issuer " + GITHUB_ACTIONS_ISSUER + ", repository cri-o/packaging; a published\n"
    "cri-o.<rev>.provenance.json must be signed the same and name the tarball with its sha256.\n"
    "-k KEY or the --certificate-* flags replace that policy; --insecure-skip-signature-verification\n"
    "skips signatures (never the sha256). With -k a published .sig is required; the signed\n"
    "revision manifest must name the revision,\n"
    "arch, tarball and sha256, the bundle's manifest.json the same revision and arch, and a marker\n"
    "read must be signed for its channel, not older than the installed revision's.\n"
    "Through a marker, an older revision than the installed one is refused (exit 17)\n"
    "unless -t names it or --allow-downgrade is given.\n"
    "An install that replaces one keeps it in $STATEDIR/previous/ for --rollback (a first install keeps none);\n"
    "--rollback with none kept exits 7.\nEnvironment: DESTDIR, PREFIX, ... pass to the bundle's install script;\n"
    "CRIO_GET_TIMEOUT, CRIO_GET_RETRIES, CRIO_GET_RETRY_DELAY, CRIO_GET_MAX_BYTES, CRIO_VERIFY_KEY,\n"
    "CRIO_GET_LOCK_TIMEOUT (seconds to wait for another install on this root, default 60).\n\b\nExit codes:\n" + EXIT_CODES,
)
@click.option("-a", "--arch", help="architecture (default: from uname -m)")
@click.option("-t", "--tag", "--revision", "request",
              help="tag (v1.21.0) or full commit SHA; vMAJOR.MINOR reads latest-MAJOR.MINOR.txt; "
              "release-MAJOR.MINOR reads latest-bundle-release-MAJOR.MINOR.txt (default: latest-bundle-main.txt; "
              "when absent, latest-release-MAJOR.MINOR.txt / latest-main.txt, if the bundle it names is published)")
@click.option("-b", "--bucket", help="GCS bucket (default: cri-o)")
@click.option("-m", "--mirror", "--url", "url", metavar="URL",
              help="base URL of a mirror with the bucket layout (http://, https://, file://); "
              "--url URL is accepted as an alias")
@click.option("-f", "--file", "file", type=click.Path(path_type=Path), help="install a local tarball")
@click.option("-d", "--download-only", "download_dir", type=click.Path(path_type=Path),
              help="download and verify into DIR, install nothing")
@click.option("-n", "--dry-run", is_flag=True, help="print the plan and change nothing")
@click.option("-u", "-U", "--uninstall", is_flag=True, help="remove what the last install recorded (-U is an alias)")
@click.option("-k", "--key", type=click.Path(path_type=Path), help="trusted public key (PEM) for .sig files")
@click.option("--insecure-skip-signature-verification", "skip_signature", is_flag=True,
              help="do not verify signatures (the sha256 is always checked)")
@click.option("--certificate-identity", help="keyless: the signer's exact certificate identity")
@click.option("--certificate-identity-regexp", help="keyless: a regular expression the whole identity matches")
@click.option("--certificate-oidc-issuer", help="keyless: the OIDC issuer of the signer's certificate")
@click.option("--certificate-github-workflow-repository", help="keyless: the GitHub repository (OWNER/REPO) "
              "whose workflow signed")
@click.option("--trusted-root", type=click.Path(path_type=Path),
              help="keyless: trusted_root.json of another Sigstore instance (default: public-good, embedded)")
@click.option("--allow-downgrade", is_flag=True,
              help="install what the marker names even if it is older than the installed revision")
@click.option("--verify", is_flag=True,
              help="compare the installed files with the install record (exit 19 when they differ)")
@click.option("--strict", is_flag=True, help="with --verify: configs the user changed fail too")
@click.option("--json", "as_json", is_flag=True, help="with --verify or --status: one JSON object")
@click.option("--status", is_flag=True, help="show the installed revision, channel, signer, times")
@click.option("--rollback", is_flag=True,
              help="put back the previous installation kept by the last install (or rollback), from the node")
@click.option("--no-keep-previous", is_flag=True,
              help="do not keep the replaced installation for --rollback (an older kept one is removed)")
def get_command(**kwargs: object) -> None:
    """Download, verify and install a CRI-O static bundle."""
    try:
        run(Options(**kwargs))  # type: ignore[arg-type]
    except CrioError as exc:   # every message: URLs shown without userinfo or query
        raise CrioError(redact(exc.message), exc.exit_code) from None


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: the running install script is killed and the journal rolled back.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    run_main(get_command, argv)


if __name__ == "__main__":
    main()
