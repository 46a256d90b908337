"""`crio-get`: the Python twin of scripts/get, same options and exit codes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from crio.cli import run_main
from crio.errors import INSTALLER_CODES, CrioError, exit_code_help
from crio.urls import redact
from crio_installer.get import Options, run

EXIT_CODES = exit_code_help(INSTALLER_CODES)


@click.command(
    name="crio-get",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nVerification: the sha256 is always checked; a published .sig needs -k (or the skip flag),\n"
    "and -k needs a published .sig. With -k, the signed revision manifest must name the revision,\n"
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
              help="tag (v1.21.0) or full commit SHA; vMAJOR.MINOR reads latest-MAJOR.MINOR.txt "
              "(default: latest-main.txt)")
@click.option("-b", "--bucket", help="GCS bucket (default: cri-o)")
@click.option("-u", "--url", help="base URL of a mirror with the bucket layout (http://, https://, file://)")
@click.option("-f", "--file", "file", type=click.Path(path_type=Path), help="install a local tarball")
@click.option("-d", "--download-only", "download_dir", type=click.Path(path_type=Path),
              help="download and verify into DIR, install nothing")
@click.option("-n", "--dry-run", is_flag=True, help="print the plan and change nothing")
@click.option("-U", "--uninstall", is_flag=True, help="remove what the last install recorded")
@click.option("-k", "--key", type=click.Path(path_type=Path), help="trusted public key (PEM) for .sig files")
@click.option("--insecure-skip-signature-verification", "skip_signature", is_flag=True,
              help="do not verify signatures (the sha256 is always checked)")
@click.option("--allow-downgrade", is_flag=True,
              help="install what the marker names even if it is older than the installed revision")
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
