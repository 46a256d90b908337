"""What installs is what was asked for, and no silent downgrade: crio-get's steps (scripts/get has the same).

- `check_marker_signature`: with a key in use, `latest-X.txt.sig` must verify and bind the marker to the
  revision it holds, no older than the statement the installed revision came from (crio.signed_marker).
- `fetch_binding`: the revision manifest binds revision, arch, tarball name and sha256 (crio.binding);
  with a key in use it must be published and signed, without one it is cross-checked when published;
  the `.sha256sum` must agree with it.
- `check_downgrade`: through a marker, an older revision than the installed one is refused (exit 17)
  unless `--allow-downgrade` (crio.downgrade); `-t REV` and `-f` name the revision and install it.
- `check_identity`: the unpacked bundle's manifest.json names the same revision and arch.
- `record_meta`: what the install record keeps (revision, arch, channel, build time, marker time).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from crio.artifacts import (
    BUNDLE_MANIFEST,
    BUNDLE_TOP,
    INSTALL_RECORD,
    SIGNATURE_SUFFIX,
    manifest_name,
    marker_signature_name,
    object_url,
)
from crio.binding import TarballBinding, check_bundle_identity, read_tarball_binding
from crio.downgrade import (
    CHANNEL_LOCAL_FILE,
    CHANNEL_NAMED,
    META_ARCH,
    META_BUILD_TIME,
    META_CHANNEL,
    META_HEAD_BYTES,
    META_MARKER_PUBLISHED,
    META_REVISION,
    InstalledState,
    installed_state,
    revision_order,
)
from crio.download import Fetcher, NotFound
from crio.errors import CrioError, ExitCode
from crio_installer.node_files import open_regular
from crio_installer.resolve import Plan

Log = Callable[[str], None]


def installed_state_at(state_dir: Path) -> InstalledState:
    """The record's metadata, read only from a regular file (a planted FIFO or link is not followed)."""
    path = state_dir / INSTALL_RECORD
    try:
        with open_regular(path) as handle:
            return installed_state(handle.read(META_HEAD_BYTES))
    except OSError:        # absent, a link, a FIFO: nothing installed that can be trusted
        return InstalledState()


def _fetch(fetcher: Fetcher, url: str, missing: str) -> bytes:
    """A small signed object that must be there: 404 is a verification error naming it."""
    try:
        return fetcher.read_small(url)
    except NotFound:
        raise CrioError(missing, ExitCode.VERIFICATION) from None


def check_marker_signature(fetcher: Fetcher, base_url: str, marker: str, revision: str, key: Path,
                           installed: InstalledState, log: Log) -> int:
    """Verify the marker's signed statement; returns its publication time."""
    from crio.signed_marker import verify_marker_signature

    url = object_url(base_url, marker_signature_name(marker))
    data = _fetch(fetcher, url, f"a trusted key was given but marker {marker} is not signed: {url} not found")
    not_before = installed.marker_published if installed.channel == marker else None
    try:
        statement = verify_marker_signature(data, key.read_bytes(), marker, revision, not_before)
    except CrioError as exc:
        if exc.exit_code != ExitCode.USAGE:
            raise
        # A key openssl cannot use fails scripts/get's verification; the same class here.
        raise CrioError(f"{exc.message}: {key}", ExitCode.VERIFICATION) from None
    log(f"marker signature verified: {marker} names {revision} (published {statement.published})")
    return statement.published


def manifest_url(plan: Plan) -> str:
    """Beside the tarball: in the bucket's artifacts/, or in -f's directory."""
    return f"{plan.tarball_url.rsplit('/', 1)[0]}/{manifest_name(plan.revision)}"


def fetch_binding(fetcher: Fetcher, plan: Plan, key: Path | None, checksum_digest: str,
                  log: Log) -> tuple[TarballBinding | None, bytes | None, bytes | None]:
    """(binding, manifest bytes, manifest signature) of the tarball; `key` is the key in use, if any."""
    url = manifest_url(plan)
    name = manifest_name(plan.revision)
    try:
        data = fetcher.read_small(url)
    except NotFound:
        if key is not None:
            raise CrioError(f"a trusted key was given but the revision manifest {name} is not published ({url})",
                            ExitCode.VERIFICATION) from None
        log(f"WARNING: no revision manifest is published for {plan.revision}: nothing binds "
            f"{plan.tarball_name} to its revision and arch but its name")
        return None, None, None
    signature = None
    if key is not None:
        from crio_installer.verify import check_signature

        signature = _fetch(fetcher, url + SIGNATURE_SUFFIX, f"a trusted key was given but the revision manifest "
                           f"{name} is not signed: {url + SIGNATURE_SUFFIX} not found")
        check_signature(hashlib.sha256(data).digest(), signature, key, name)
    binding = read_tarball_binding(data, plan.revision, plan.arch)
    if checksum_digest != binding.sha256:
        raise CrioError(f"{plan.tarball_name}.sha256sum says {checksum_digest}, the revision manifest says "
                        f"{binding.sha256}", ExitCode.VERIFICATION)
    state = "signature verified" if key is not None else "UNSIGNED: cross-check only"
    log(f"revision manifest ({state}): {plan.tarball_name} is the {plan.arch} tarball of {plan.revision}")
    return binding, data, signature


def check_downgrade(plan: Plan, installed: InstalledState, build_time: int | None, allow: bool, log: Log) -> None:
    """Through a marker, refuse a revision older than the installed one unless `allow`."""
    if plan.marker is None:
        return
    order = revision_order(installed.revision, installed.build_time, plan.revision, build_time)
    if order == "older":
        if allow:
            log(f"WARNING: downgrading from {installed.revision} to {plan.revision} (--allow-downgrade)")
            return
        raise CrioError(f"{plan.marker} names {plan.revision}, which is older than the installed "
                        f"{installed.revision}: refusing to downgrade; install it with -t {plan.revision}, "
                        "or pass --allow-downgrade", ExitCode.DOWNGRADE)
    if order == "unknown":
        log(f"WARNING: cannot tell whether {plan.revision} is older than the installed {installed.revision} "
            "(no build time to compare them by)")


def check_identity(staging: Path, plan: Plan, required: bool, log: Log) -> None:
    """The unpacked bundle's manifest.json names the requested revision and arch."""
    path = staging / BUNDLE_TOP / BUNDLE_MANIFEST
    data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    said = check_bundle_identity(data, plan.revision, plan.arch, required)
    log(said if said.startswith("the bundle names") else f"WARNING: {said}")


def record_meta(plan: Plan, build_time: int | None, local_file: bool) -> dict[str, str]:
    """The metadata the install script heads the record with."""
    channel = CHANNEL_LOCAL_FILE if local_file else (plan.marker or CHANNEL_NAMED)
    meta = {META_REVISION: plan.revision, META_ARCH: plan.arch, META_CHANNEL: channel}
    if build_time is not None:
        meta[META_BUILD_TIME] = str(build_time)
    if plan.marker_published is not None:
        meta[META_MARKER_PUBLISHED] = str(plan.marker_published)
    return meta


def save_revision_manifest(directory: Path, revision: str, data: bytes | None, signature: bytes | None) -> None:
    """-d keeps the revision manifest (and signature) beside the tarball; never written through a planted link."""
    for name, content in ((manifest_name(revision), data), (manifest_name(revision) + SIGNATURE_SUFFIX, signature)):
        if content is None:
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / name)
