"""One crio-get run: checks, resolution, streaming download + verify + extract, transactional install.

The order of checks and the exit code of each failure class are those of
scripts/get, so one test table can hold both installers to the same outcome.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from crio.arch import ARCHITECTURES, normalize_arch
from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    BUNDLE_TOP,
    INSTALL_RECORD,
    INSTALL_VARIABLES,
    parse_tarball_name,
    tarball_name,
)
from crio.download import Fetcher, NotFound, RetryPolicy
from crio.errors import CrioError, ExitCode
from crio.marker import read_marker
from crio_installer import resolve, transaction, verify
from crio_installer.extract import StreamingExtractor, max_bytes_from_env


@dataclass
class Options:
    arch: str | None = None
    request: str | None = None
    bucket: str | None = None
    url: str | None = None
    file: Path | None = None
    download_dir: Path | None = None
    dry_run: bool = False
    uninstall: bool = False
    key: Path | None = None
    skip_signature: bool = False


def say(message: str) -> None:
    print(f"crio-get: {message}", file=sys.stderr, flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def run(options: Options, out: Callable[[str], None] = print) -> None:
    """Install (or download, plan, uninstall) as the options say; raise CrioError on failure."""
    destdir = os.environ.get("DESTDIR", "")
    if destdir and not destdir.startswith("/"):
        raise CrioError(f"DESTDIR must be an absolute path, got {destdir!r}", ExitCode.USAGE)
    policy = RetryPolicy.from_env()
    max_bytes = max_bytes_from_env()
    if options.uninstall:
        if not destdir and not _is_root():
            raise CrioError("uninstalling needs root (or set DESTDIR)", ExitCode.NOT_ROOT)
        transaction.uninstall(destdir, say)
        return
    if options.file and (options.bucket or options.url or options.request):
        raise CrioError("-f installs a local tarball: it excludes -b, -u and -t", ExitCode.USAGE)

    raw_arch = options.arch or platform.machine()
    try:
        arch = normalize_arch(raw_arch)
    except CrioError:
        raise CrioError(
            f"unsupported architecture {raw_arch!r}: use one of {', '.join(ARCHITECTURES)} "
            "(or a uname -m spelling: x86_64, aarch64, ppc64le, s390x)",
            ExitCode.UNSUPPORTED_ARCH,
        ) from None

    marker: str | None = None
    revision: str | None = None
    source = ""
    base_url = ""
    if options.file is None:
        marker, revision = resolve.marker_or_revision(options.request)
        if revision:
            source = "given with -t"
        base_url = resolve.base_url_for(options.bucket, options.url)
    else:
        arch, revision = _local_name(options.file, arch if options.arch else None)
        source = f"local file {options.file}"
    key = options.key
    if key is None and os.environ.get("CRIO_VERIFY_KEY"):
        key = Path(os.environ["CRIO_VERIFY_KEY"])
    if key is not None and not options.skip_signature and not os.access(key, os.R_OK):
        raise CrioError(f"cannot read the verification key '{key}'", ExitCode.USAGE)
    if not options.dry_run and options.download_dir is None and shutil.which("bash") is None:
        raise CrioError("required tool 'bash' not found (the bundle's install script needs it)",
                        ExitCode.MISSING_TOOL)
    if not options.dry_run and options.download_dir is None and not destdir and not _is_root():
        raise CrioError("installing needs root; run with sudo, or set DESTDIR to install below a directory",
                        ExitCode.NOT_ROOT)

    fetcher = Fetcher(policy, say)
    if marker is not None:
        url = resolve.marker_url(base_url, marker)
        try:
            data = fetcher.read_small(url)
        except NotFound:
            raise CrioError(f"marker {marker} not found at {url}", ExitCode.RESOLUTION) from None
        except CrioError:
            raise CrioError(f"cannot read marker {marker} from {url}", ExitCode.RESOLUTION) from None
        revision = str(read_marker(data, marker))
        source = f"marker {url}"
    assert revision is not None
    if options.file is not None:
        tar_url = options.file.resolve().as_uri()
        plan = resolve.Plan(arch, revision, source, tar_url, tar_url + ".sha256sum", tar_url + ".sig")
    else:
        plan = resolve.plan_for(base_url, arch, revision, source)

    if options.dry_run:
        _print_plan(plan, options, destdir, out)
        return

    with tempfile.TemporaryDirectory(prefix="crio-get.") as work_text:
        work = Path(work_text)
        work.chmod(0o700)
        _fetch_verify_install(plan, options, key, fetcher, work, destdir, max_bytes)


def _local_name(path: Path, arch: str | None) -> tuple[str, str]:
    if not path.is_file():
        raise CrioError(f"no such file: {path}", ExitCode.USAGE)
    file_arch, revision = parse_tarball_name(path.name, str(path))
    if arch is not None and arch != file_arch:
        raise CrioError(f"-a {arch} does not match the tarball's architecture {file_arch}", ExitCode.USAGE)
    return file_arch, str(revision)


def _print_plan(plan: resolve.Plan, options: Options, destdir: str, out: Callable[[str], None]) -> None:
    skipped = "; SKIPPED by flag" if options.skip_signature else ""
    out(f"revision: {plan.revision} ({plan.source})")
    out(f"architecture: {plan.arch}")
    out(f"tarball: {plan.tarball_url}")
    out(f"checksum: {plan.checksum_url}")
    out(f"signature: {plan.signature_url} (verified when published{skipped})")
    if options.download_dir is not None:
        out(f"download to: {options.download_dir} (nothing installed)")
    else:
        for var in INSTALL_VARIABLES:
            out(f"install variable: {var}={os.environ.get(var, '')}")
        out(f"install record: {transaction.state_dir(destdir) / INSTALL_RECORD}")
        out(f"destinations: every path the bundle's '{BUNDLE_TOP}/{BUNDLE_INSTALL_SCRIPT} --list' prints, below DESTDIR")
    out("dry run: nothing downloaded (but the marker) or changed")


def _fetch_verify_install(plan: resolve.Plan, options: Options, key: Path | None, fetcher: Fetcher,
                          work: Path, destdir: str, max_bytes: int) -> None:
    name = tarball_name(plan.arch, plan.revision)
    try:
        checksum = fetcher.read_small(plan.checksum_url)
    except NotFound:
        raise CrioError(f"revision {plan.revision} has no {plan.arch} bundle: {plan.checksum_url} not found",
                        ExitCode.RESOLUTION) from None
    try:
        signature: bytes | None = fetcher.read_small(plan.signature_url)
    except NotFound:
        signature = None
    check_sig = verify.signature_policy(signature is not None, key, options.skip_signature, name,
                                        plan.signature_url)
    expected = verify.expected_digest(checksum, name)

    say(f"downloading {plan.tarball_url}")
    digest = hashlib.sha256()
    extractor = None if options.download_dir is not None else StreamingExtractor(work / "staging", max_bytes)
    # -d writes straight into DIR under a temporary name, renamed only once verified: no second copy.
    partial = options.download_dir / f".{name}.partial" if options.download_dir is not None else None
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
    sink = open(partial, "wb") if partial is not None else None
    progress: tqdm | None = None
    manifest_checked = False

    def on_length(length: int | None) -> None:
        nonlocal progress
        progress = tqdm(total=length, unit="B", unit_scale=True, disable=not sys.stderr.isatty(),
                        desc=name, leave=False)

    try:
        try:
            for chunk in fetcher.stream(plan.tarball_url, on_length):
                digest.update(chunk)
                if sink is not None:
                    sink.write(chunk)
                if extractor is not None:
                    extractor.feed(chunk)
                if progress is not None:
                    progress.update(len(chunk))
        except NotFound:
            raise CrioError(f"revision {plan.revision} has no {plan.arch} bundle: {plan.tarball_url} not found",
                            ExitCode.RESOLUTION) from None
        finally:
            if progress is not None:
                progress.close()
            if sink is not None:
                sink.close()
        verify.check_digest(digest.hexdigest(), expected, name)
        say("sha256 verified")
        if options.skip_signature:
            say("WARNING: signature verification SKIPPED (--insecure-skip-signature-verification)")
        elif check_sig:
            assert signature is not None and key is not None
            verify.check_signature(digest.digest(), signature, key, name)
            say("signature verified")
        else:
            say(f"no signature is published for {name}: verified by sha256 only")
        if extractor is not None:
            extractor.finish()
            manifest_checked = extractor.manifest_checked
            extractor = None
    except BaseException:
        if extractor is not None:
            extractor.abort()
        shutil.rmtree(work / "staging", ignore_errors=True)
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise

    if options.download_dir is not None:
        assert partial is not None
        partial.replace(options.download_dir / name)
        (options.download_dir / (name + ".sha256sum")).write_bytes(checksum)
        if signature is not None:
            (options.download_dir / (name + ".sig")).write_bytes(signature)
        say(f"downloaded and verified {name} into {options.download_dir}")
        return
    transaction.install_bundle(work / "staging", destdir, say,
                               digest.hexdigest() if manifest_checked else None)
    say(f"installed CRI-O {plan.revision} ({plan.arch})")
