"""Uninstall: remove what the last install recorded, with the install script it kept, under the root's lock.

The kept script is data found on the node: it is run only as a private copy of bytes whose sha256 the
record holds (`verified_install_script`). An upstream-layout install has no script: its recorded files are
removed by crio_installer.record_uninstall.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from crio.artifacts import BUNDLE_INSTALL_SCRIPT, INSTALL_RECORD
from crio.errors import CrioError, ExitCode
from crio.paths import is_below, normalisation_error
from crio.record import INSTALL_SCRIPT_KEY, read_metadata
from crio_installer import previous
from crio_installer.record_uninstall import recorded_by_installer, uninstall_recorded
from crio_installer.transaction import Log, _lock, check_record, recover, state_dir

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def verified_install_script(sdir: Path, into: Path) -> Path:
    """A private copy of the stored install script, made only if it matches the sha256 the record holds.

    The bytes hashed are the bytes run (no second read of a file anyone could swap meanwhile).
    """
    script, record = sdir / BUNDLE_INSTALL_SCRIPT, sdir / INSTALL_RECORD
    if not script.is_file() or not record.is_file():
        missing = script if not script.is_file() else record
        raise CrioError(f"no installation recorded: {missing} not found", ExitCode.INSTALL)
    try:
        fd = os.open(script, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise CrioError(f"the stored install script {script} cannot be read safely ({exc.strerror})",
                        ExitCode.VERIFICATION) from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    expected = read_metadata(record.read_bytes().decode("utf-8", "surrogateescape")).get(INSTALL_SCRIPT_KEY, "")
    if not _SHA256_RE.match(expected):
        raise CrioError(f"{record} holds no sha256 of the install script (#{INSTALL_SCRIPT_KEY}): {script} is not "
                        "run; check it, then run it with --uninstall yourself", ExitCode.VERIFICATION)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CrioError(f"the stored install script {script} does not match the sha256 recorded at install time "
                        f"(expected {expected}, got {actual}): not run", ExitCode.VERIFICATION)
    copy = into / BUNDLE_INSTALL_SCRIPT
    copy.write_bytes(data)
    copy.chmod(0o700)
    return copy


def _recorded_state_parents(sdir: Path, destdir: str) -> list[Path]:
    """The dir rows of the record that are the state dir or its parents (deepest first).

    The uninstall cannot remove them while the lock file is inside; the lock removes them after.
    """
    state = str(sdir)[len(destdir):]
    out = []
    for line in (sdir / INSTALL_RECORD).read_bytes().decode("utf-8", "surrogateescape").splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[3] == "dir" and normalisation_error(fields[0]) is None \
                and fields[0] != "/" and (fields[0] == state or is_below(state, fields[0])):
            out.append(Path(destdir + fields[0]))
    return sorted(out, key=lambda p: len(str(p)), reverse=True)


def uninstall(destdir: str, log: Log) -> None:
    """Remove what the last install recorded, with the install script it kept (once its sha256 matched)."""
    sdir = state_dir(destdir)
    with _lock(destdir, log) as lock, tempfile.TemporaryDirectory(prefix="crio-get.") as work:
        recover(destdir, log)
        check_record(sdir)
        if recorded_by_installer(sdir):     # an upstream-layout install: no script to run
            previous.drop(sdir)
            lock.also_remove = _recorded_state_parents(sdir, destdir)
            uninstall_recorded(sdir, destdir, log)
            return
        script = verified_install_script(sdir, Path(work))
        previous.drop(sdir)    # an uninstall is not rolled back: the installation before it goes too
        parents = _recorded_state_parents(sdir, destdir)
        if subprocess.run(["bash", str(script), "--uninstall"], check=False, pass_fds=(lock.fd,)).returncode != 0:
            raise CrioError("uninstall failed", ExitCode.INSTALL)
        lock.also_remove = parents
    log("uninstalled")
