"""One crio-get run as three steps: request (options + environment) -> plan -> install(source, destination).

The shape of pypa/installer's `_core.install`: everything the user asked for
is read and checked first (`Request`), then turned into a `resolve.Plan`
(which revision, which URLs; the marker is the only thing read), then the
tarball is streamed once through hashing, the optional `-d` copy and a
checking extractor (`fetch_verified`), and only a verified bundle reaches
`install`. The order of checks and the exit code of each failure class are
those of scripts/get, so one test table holds both installers to the same outcome.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from crio.arch import ARCHITECTURES, normalize_arch
from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    BUNDLE_TOP,
    CERTIFICATE_SUFFIX,
    CHECKSUM_SUFFIX,
    INSTALL_RECORD,
    INSTALL_VARIABLES,
    SIGNATURE_SUFFIX,
    SIGSTORE_BUNDLE_SUFFIX,
    parse_tarball_name,
)
from crio.downgrade import InstalledState
from crio.download import Fetcher, NotFound, RetryPolicy
from crio.errors import CrioError, ExitCode
from crio.keyless.policy import IdentityPolicy
from crio.paths import check_destdir, check_install_environment
from crio.urls import file_url_path, redact
from crio_installer import (
    binding,
    channel,
    keyless,
    previous,
    resolve,
    transaction,
    upstream_bundle,
    verify,
)
from crio_installer.extract import StreamingExtractor, max_bytes_from_env
from crio_installer.lock import lock_timeout_from_env

if TYPE_CHECKING:
    import tqdm


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
    allow_downgrade: bool = False
    verify: bool = False        # --verify [--strict] [--json]: read what is installed (crio_installer.inspect)
    strict: bool = False
    as_json: bool = False
    status: bool = False        # --status [--json]
    certificate_identity: str | None = None
    certificate_identity_regexp: str | None = None
    certificate_oidc_issuer: str | None = None
    certificate_github_workflow_repository: str | None = None
    trusted_root: Path | None = None

    @property
    def keyless_flags(self) -> keyless.KeylessFlags:
        return keyless.KeylessFlags(self.certificate_identity, self.certificate_identity_regexp,
                                    self.certificate_oidc_issuer, self.certificate_github_workflow_repository,
                                    self.trusted_root)
    rollback: bool = False
    no_keep_previous: bool = False


def say(message: str) -> None:
    """One line on stderr, every URL in it redacted (userinfo, query)."""
    print(f"crio-get: {redact(message)}", file=sys.stderr, flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class Request:
    """The options and the environment they are read with (DESTDIR, CRIO_GET_*, CRIO_VERIFY_KEY)."""

    options: Options
    destdir: str
    policy: RetryPolicy
    max_bytes: int
    key: Path | None
    keyless_policy: IdentityPolicy | None   # None: -k or the skip flag decides

    @classmethod
    def from_environment(cls, options: Options) -> Request:
        destdir = os.environ.get("DESTDIR", "")
        if destdir and not destdir.startswith("/"):
            raise CrioError(f"DESTDIR must be an absolute path, got {destdir!r}", ExitCode.USAGE)
        destdir = check_state_settings(destdir)
        policy = RetryPolicy.from_env()
        max_bytes = max_bytes_from_env()
        key = options.key
        if key is None and os.environ.get("CRIO_VERIFY_KEY"):
            key = Path(os.environ["CRIO_VERIFY_KEY"])
        keyless_policy = keyless.choose_policy(options.keyless_flags, key is not None, options.skip_signature)
        return cls(options, destdir, policy, max_bytes, key, keyless_policy)

    @property
    def key_in_use(self) -> Path | None:
        """The key signatures are checked with (None without -k, or with the skip flag)."""
        return None if self.options.skip_signature else self.key

    @cached_property
    def installed(self) -> InstalledState:
        """What the install record below DESTDIR says is installed (marker replay and downgrade checks)."""
        return binding.installed_state_at(transaction.state_dir(self.destdir))

    @cached_property
    def trusted_root(self):  # -> sigstore.models.TrustedRoot
        """The keyless root of trust: --trusted-root FILE, else the embedded public-good one."""
        return keyless.load_root(self.options.keyless_flags)

    @property
    def installs(self) -> bool:
        """Whether this run writes below DESTDIR (not -n, not -d)."""
        return not self.options.dry_run and self.options.download_dir is None


def check_state_settings(destdir: str) -> str:
    """DESTDIR ('' for the real root), every path variable set and CRIO_GET_LOCK_TIMEOUT: usage errors first."""
    check_install_environment()
    lock_timeout_from_env()
    return check_destdir(destdir)


def run(options: Options, out: Callable[[str], None] = print) -> None:
    """Install (or download, plan, uninstall) as the options say; raise CrioError on failure."""
    request = Request.from_environment(options)
    if _inspects(options):
        _inspect(request, out)
        return
    if options.rollback:
        _check_rollback_options(options)
    if options.uninstall:
        if not request.destdir and not _is_root():
            raise CrioError("uninstalling needs root (or set DESTDIR)", ExitCode.NOT_ROOT)
        from crio_installer.uninstall import uninstall  # only for -u

        uninstall(request.destdir, say)
        return
    if options.rollback:
        if not request.destdir and not _is_root():
            raise CrioError("rolling back needs root (or set DESTDIR)", ExitCode.NOT_ROOT)
        from crio_installer import rollback  # only --rollback needs it: not loaded by every run

        rollback.rollback_previous(request.destdir, say, keep_previous=not options.no_keep_previous)
        return
    fetcher = Fetcher(request.policy, say)
    plan = make_plan(request, fetcher)
    if options.dry_run:
        _print_plan(plan, request, out)
        return
    if options.download_dir is not None:
        with tempfile.TemporaryDirectory(prefix="crio-get.") as work_text:
            work = Path(work_text)
            work.chmod(0o700)
            fetch_verified(plan, request, fetcher, work)
        return
    # Unpacked under the root's lock into private staging beside the destinations: the install
    # then renames each file into place instead of writing it a second time.
    with transaction.private_staging(request.destdir, say) as (lock, work):
        install(fetch_verified(plan, request, fetcher, work), request.destdir, lock,
                keep_previous=not options.no_keep_previous)
        kept = previous.summary(transaction.state_dir(request.destdir))
    say(f"installed CRI-O {plan.revision} ({plan.arch}){kept}")


def _check_rollback_options(options: Options) -> None:
    """--rollback restores what is kept: it takes no source, plan or download option."""
    if options.request or options.file or options.bucket or options.url or options.download_dir or options.dry_run \
            or options.uninstall:
        raise CrioError("--rollback restores the kept previous installation: it excludes -t, -f, -b, --url, -d, -n "
                        "and --uninstall", ExitCode.USAGE)


_INSPECT_FIELDS = ("verify", "strict", "as_json", "status")


def _inspects(options: Options) -> bool:
    """--verify or --status, alone with --strict/--json: anything else given with them is a usage error."""
    if not (options.verify or options.status):
        if options.strict or options.as_json:
            raise CrioError("--strict goes with --verify, --json with --verify or --status", ExitCode.USAGE)
        return False
    defaults = Options()    # any option added later counts too (an empty or false value is one not given)
    others = [f.name for f in fields(Options) if f.name not in _INSPECT_FIELDS
              and getattr(options, f.name) and getattr(options, f.name) != getattr(defaults, f.name)]
    if (options.verify and options.status) or others or (options.status and options.strict):
        raise CrioError("--verify [--strict] [--json] and --status [--json] read what is installed: they take "
                        "no other option", ExitCode.USAGE)
    return True


def _inspect(request: Request, out: Callable[[str], None]) -> None:
    from crio_installer import inspect

    sdir = transaction.state_dir(request.destdir)
    options = request.options
    if options.status:
        inspect.status(sdir, request.destdir, options.as_json, out)
        return
    if inspect.verify(sdir, request.destdir, options.strict, options.as_json, out, say) != ExitCode.OK:
        raise CrioError("installed files differ from the install record (see the findings above)",
                        ExitCode.INSTALLED_DIFFERS)


# --- plan ---------------------------------------------------------------------------------------


def make_plan(request: Request, fetcher: Fetcher) -> resolve.Plan:
    """Check the request against the host, then decide the revision (reading its marker) and the URLs."""
    options = request.options
    if options.file and (options.bucket or options.url or options.request):
        raise CrioError("-f installs a local tarball: it excludes -b, -m and -t", ExitCode.USAGE)
    arch = _host_or_given_arch(options.arch)
    if options.file is not None:
        arch, revision = _local_name(options.file, arch if options.arch else None)
        _check_environment(request)
        tar_url = options.file.resolve().as_uri()
        file_url_path(tar_url)   # the one file:// rule: a path it cannot express is a usage error now
        return resolve.Plan(arch, revision, f"local file {options.file}", tar_url,
                            tar_url + CHECKSUM_SUFFIX, tar_url + SIGNATURE_SUFFIX)
    markers, given = resolve.marker_or_revision(options.request)
    base_url = resolve.base_url_for(options.bucket, options.url)
    _check_environment(request)
    if markers is None:
        assert given is not None
        return resolve.plan_for(base_url, arch, given, "given with -t")
    read = channel.read_channel(fetcher, base_url, markers, say)
    marker, revision = read.marker, read.revision
    published = None
    if request.key_in_use is not None:
        published = binding.check_marker_signature(fetcher, base_url, marker, revision, request.key_in_use,
                                                   request.installed, say)
    if read.fell_back:
        channel.check_bundle_published(fetcher, base_url, read, arch)
    return replace(resolve.plan_for(base_url, arch, revision, f"marker {read.url}"), marker=marker,
                   marker_published=published)


def _host_or_given_arch(given: str | None) -> str:
    raw_arch = given or platform.machine()
    try:
        return normalize_arch(raw_arch)
    except CrioError:
        raise CrioError(
            f"unsupported architecture {raw_arch!r}: use one of {', '.join(ARCHITECTURES)} "
            "(or a uname -m spelling: x86_64, aarch64, ppc64le, s390x)",
            ExitCode.UNSUPPORTED_ARCH,
        ) from None


def _local_name(path: Path, arch: str | None) -> tuple[str, str]:
    if not path.is_file():
        raise CrioError(f"no such file: {path}", ExitCode.USAGE)
    file_arch, revision = parse_tarball_name(path.name, str(path))
    if arch is not None and arch != file_arch:
        raise CrioError(f"-a {arch} does not match the tarball's architecture {file_arch}", ExitCode.USAGE)
    return file_arch, str(revision)


def _check_environment(request: Request) -> None:
    """The key is readable, bash is there to run the bundle's install script, and root when installing."""
    key = request.key
    if key is not None and not request.options.skip_signature and not os.access(key, os.R_OK):
        raise CrioError(f"cannot read the verification key '{key}'", ExitCode.USAGE)
    if request.keyless_policy is not None and request.options.trusted_root is not None:
        _ = request.trusted_root   # an unreadable or malformed --trusted-root is a usage error before downloading
    if request.installs and shutil.which("bash") is None:
        raise CrioError("required tool 'bash' not found (the bundle's install script needs it)",
                        ExitCode.MISSING_TOOL)
    if request.installs and not request.destdir and not _is_root():
        raise CrioError("installing needs root; run with sudo, or set DESTDIR to install below a directory",
                        ExitCode.NOT_ROOT)


def _print_plan(plan: resolve.Plan, request: Request, print_line: Callable[[str], None]) -> None:
    def out(line: str) -> None:
        print_line(redact(line))

    options = request.options
    skipped = "; SKIPPED by flag" if options.skip_signature else ""
    out(f"revision: {plan.revision} ({plan.source})")
    out(f"architecture: {plan.arch}")
    out(f"tarball: {plan.tarball_url}")
    out(f"checksum: {plan.checksum_url}")
    if request.keyless_policy is not None:
        out(f"signature: keyless, {plan.tarball_url}{SIGSTORE_BUNDLE_SUFFIX} or {SIGNATURE_SUFFIX} + "
            f"{CERTIFICATE_SUFFIX}, required: {request.keyless_policy.describe()}")
    else:
        out(f"signature: {plan.signature_url} (verified when published{skipped})")
    out(f"revision manifest: {binding.manifest_url(plan)} ("
        + ("must be published and signed)" if request.key_in_use else "cross-checked when published)"))
    if plan.marker_published is not None:
        out(f"marker signature: verified, published {plan.marker_published}")
    if options.download_dir is not None:
        out(f"download to: {options.download_dir} (nothing installed)")
    else:
        for var in INSTALL_VARIABLES:
            out(f"install variable: {var}={os.environ.get(var, '')}")
        out(f"install record: {transaction.state_dir(request.destdir) / INSTALL_RECORD}")
        out(f"destinations: every path the bundle's '{BUNDLE_TOP}/{BUNDLE_INSTALL_SCRIPT} --list' prints, below DESTDIR")
    out("dry run: nothing downloaded (but the marker) or changed")


# --- source: one pass over the tarball ------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose tarball matched its sha256 (and signature), unpacked into private staging."""

    staging: Path
    tarball_sha256: str
    manifest_checked: bool   # every file manifest.json lists was extracted with its sha256
    record_meta: dict[str, str] = field(default_factory=dict)   # what the install record keeps of it


def fetch_verified(plan: resolve.Plan, request: Request, fetcher: Fetcher, work: Path) -> VerifiedBundle:
    """Download the side files, then stream the tarball once through hash, -d copy and extractor; verify.

    With -d the tarball is written straight into DIR under a temporary name and renamed only once
    verified; nothing is extracted. Any failure leaves neither staging nor a partial file behind.
    """
    options = request.options
    name = plan.tarball_name
    checksum = _read_published(fetcher, plan, plan.checksum_url)
    keyless_time, kept, signer = None, {}, None
    if request.keyless_policy is not None:
        signature, check_sig = None, False
        expected = verify.expected_digest(checksum, name)
        keyless_time, kept, signer = keyless.verify_keyless(fetcher, plan.tarball_url, plan.revision, name, expected,
                                                    request.keyless_policy, request.trusted_root, say)
    else:
        signature = _read_optional(fetcher, plan.signature_url)
        check_sig = verify.signature_policy(signature is not None, request.key, options.skip_signature, name,
                                            plan.signature_url)
        expected = verify.expected_digest(checksum, name)
    bound, manifest, manifest_sig = binding.fetch_binding(fetcher, plan, request.key_in_use, expected, say)
    build_time = keyless_time if keyless_time is not None else (bound.build_time if bound is not None else None)
    if request.installs:
        binding.check_downgrade(plan, request.installed, build_time, options.allow_downgrade, say)
    say(f"downloading {plan.tarball_url}")
    extractor = None if options.download_dir is not None else StreamingExtractor(work / "staging",
                                                                                  request.max_bytes)
    sink, partial = _exclusive_temp(options.download_dir, f".{name}.", ".partial") \
        if options.download_dir is not None else (None, None)
    try:
        digest = _stream_tarball(fetcher, plan, sink, extractor)
        verify.check_digest(digest.hexdigest(), expected, name)
        say("sha256 verified")
        if request.keyless_policy is None:
            _verify_signature(digest.digest(), signature if check_sig else None, request, name)
        manifest_checked = False
        if extractor is not None:
            extractor.finish()
            manifest_checked = extractor.manifest_checked
            extractor = None
            binding.check_identity(work / "staging", plan, request.key_in_use is not None, say)
    except BaseException:
        if extractor is not None:
            extractor.abort()
        shutil.rmtree(work / "staging", ignore_errors=True)
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if options.download_dir is not None:
        assert partial is not None
        _save_download(options.download_dir, partial, name, checksum, signature, kept)
        binding.save_revision_manifest(options.download_dir, plan.revision, manifest, manifest_sig)
    return VerifiedBundle(work / "staging", digest.hexdigest(), manifest_checked,
                          {**binding.record_meta(plan, build_time, options.file is not None),
                           **_status_meta(request, signer)})


def _status_meta(request: Request, keyless_signer: str | None) -> dict[str, str]:
    """What --status shows beside the revision: the signer (key fingerprint, keyless identity, `none`, `skipped`)
    and the time."""
    from crio_installer.signer import META_INSTALL_TIME, META_SIGNER, SIGNER_KEYLESS_PREFIX, signer_value

    key = request.key_in_use
    signer = SIGNER_KEYLESS_PREFIX + keyless_signer if keyless_signer else \
        signer_value(key.read_bytes() if key is not None else None, request.options.skip_signature)
    return {META_SIGNER: signer, META_INSTALL_TIME: str(int(time.time()))}


def _read_published(fetcher: Fetcher, plan: resolve.Plan, url: str) -> bytes:
    try:
        return fetcher.read_small(url)
    except NotFound:
        raise CrioError(f"revision {plan.revision} has no {plan.arch} bundle: {url} not found",
                        ExitCode.RESOLUTION) from None


def _read_optional(fetcher: Fetcher, url: str) -> bytes | None:
    try:
        return fetcher.read_small(url)
    except NotFound:
        return None


def _stream_tarball(fetcher: Fetcher, plan: resolve.Plan, sink: BinaryIO | None,
                    extractor: StreamingExtractor | None) -> hashlib._Hash:
    """Each chunk once: into the hash, the -d file (`sink`, closed here) and the extractor; a progress bar on a terminal."""
    digest = hashlib.sha256()
    progress: tqdm.tqdm | None = None

    def on_length(length: int | None) -> None:
        nonlocal progress
        if sys.stderr.isatty():     # imported only for a terminal: 20 ms of start-up otherwise
            import tqdm as tqdm_module

            progress = tqdm_module.tqdm(total=length, unit="B", unit_scale=True, desc=plan.tarball_name,
                                        leave=False)

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
    return digest


def _verify_signature(digest: bytes, signature: bytes | None, request: Request, name: str) -> None:
    """`signature` is the published one when the policy says to check it, else None."""
    if request.options.skip_signature:
        say("WARNING: signature verification SKIPPED (--insecure-skip-signature-verification)")
    elif signature is not None:
        assert request.key is not None
        verify.check_signature(digest, signature, request.key, name)
        say("signature verified")
    else:
        say(f"WARNING: no signature is published for {name}: checked only against a sha256 from the same mirror")


def _exclusive_temp(directory: Path, prefix: str, suffix: str) -> tuple[BinaryIO, Path]:
    """A new file in the user's `directory`, created with O_EXCL under a random name (never a planted link)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    except OSError as exc:
        raise CrioError(f"cannot write in {directory}: {exc.strerror}", ExitCode.USAGE) from None
    os.fchmod(fd, 0o644)
    return open(fd, "wb"), Path(name)


def _save_download(directory: Path, partial: Path, name: str, checksum: bytes, signature: bytes | None,
                   kept: dict[str, bytes]) -> None:
    """Rename the verified tarball, then each side file written the same way, over NAME: a link there is replaced.

    `kept`: the keyless evidence (and provenance), so `-f` verifies the same offline later.
    """
    partial.replace(directory / name)
    side_files = [(name + CHECKSUM_SUFFIX, checksum), *kept.items()]
    if signature is not None:
        side_files.append((name + SIGNATURE_SUFFIX, signature))
    for target, data in side_files:
        sink, temp = _exclusive_temp(directory, f".{target}.", ".partial")
        try:
            with sink:
                sink.write(data)
            temp.replace(directory / target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    say(f"downloaded and verified {name} into {directory}")


# --- install -------------------------------------------------------------------------------------


def install(source: VerifiedBundle, destination: str, lock: transaction.RootLock,
            keep_previous: bool = True) -> None:
    """Run the bundle's own install script into DESTDIR `destination`, inside a rollback journal.

    The tarball's sha256 is passed on only when the manifest was checked while extracting, so the
    script need not hash the files again. `lock`: held since the staging directory was made.
    `keep_previous`: keep the replaced installation for --rollback.
    """
    if not upstream_bundle.plans_with_list(source.staging / BUNDLE_TOP):
        upstream_bundle.install(source.staging, destination, say, source.record_meta, held=lock)
        return
    transaction.install_bundle(source.staging, destination, say,
                               source.tarball_sha256 if source.manifest_checked else None, source.record_meta,
                               held=lock, keep_previous=keep_previous)
