"""Adopting an installation made by upstream's install script, from its `~/.crio-install` list.

Upstream's script writes the paths it installed, one per line and DESTDIR-
prefixed, to `~/.crio-install` of whoever ran it (root's, or the sudo user's).
The next install takes them into its transaction and removes them before it
writes its own files: the result is one installation, ours, whose record `-u`
replays. Leftovers are not recorded instead, because a kept upstream
`10-crio.conf` points at upstream's `/usr/libexec/crio/*`, which would keep
the node configured for binaries this install does not manage. A rollback
restores them like any replaced file. After the commit the list is renamed to
`.crio-install.adopted`, so it is not adopted twice.

The list is data found on the node (its owner may be the unprivileged sudo
user): a line is adopted only when it is absolute and normalised, a
destination of this install (inside DESTDIR when set, crio_installer.journal),
outside the install state dir, a regular file now, and ends like a file
upstream's script installs (crio.artifacts.UPSTREAM_ADOPTABLE_SUFFIXES);
anything else is ignored and named, never touched. scripts/get: `adopt_find`.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crio.artifacts import UPSTREAM_ADOPTABLE_SUFFIXES, UPSTREAM_INSTALL_LIST, UPSTREAM_INSTALL_LIST_ADOPTED
from crio.paths import is_below
from crio_installer.journal import destination_error
from crio_installer.node_files import NotRegularFile, open_regular

Log = Callable[[str], None]
#: A list bigger than this is not upstream's (it names ~30 files): ignored whole.
MAX_LIST_BYTES = 1 << 20


@dataclass
class Adoption:
    """The lists read and the files they name that this install takes over."""

    lists: list[Path] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def adoptable_error(line: str, destdir: str, sdir: Path) -> str | None:
    """Why a `~/.crio-install` line is not adopted (None when it is); the file itself is checked by the caller."""
    why = destination_error(line, destdir)
    if why is not None:
        return why
    if line == str(sdir) or is_below(line, str(sdir)):
        return "inside the install state directory"
    if not line.endswith(UPSTREAM_ADOPTABLE_SUFFIXES):
        return "not a file upstream's install script writes"
    return None


def list_files(environ: dict[str, str] | None = None) -> list[Path]:
    """`~/.crio-install` of the running user ($HOME) and of SUDO_USER when set, each once."""
    env = os.environ if environ is None else environ
    homes: list[str] = []
    if env.get("HOME", "").startswith("/"):
        homes.append(env["HOME"])
    sudo_user = env.get("SUDO_USER", "")
    if sudo_user:
        try:
            homes.append(pwd.getpwnam(sudo_user).pw_dir)
        except KeyError:
            pass
    out: list[Path] = []
    for home in homes:
        path = Path(home) / UPSTREAM_INSTALL_LIST
        if path not in out:
            out.append(path)
    return out


def _read_list(path: Path, log: Log) -> list[str] | None:
    """The lines of one list (None when absent or not safely readable: a link, not a file, too big)."""
    too_big = f"ignoring {path}: not a regular file of at most {MAX_LIST_BYTES} bytes"
    try:
        with open_regular(path) as handle:
            if os.fstat(handle.fileno()).st_size > MAX_LIST_BYTES:
                log(too_big)
                return None
            data = handle.read(MAX_LIST_BYTES + 1)
    except FileNotFoundError:
        return None
    except NotRegularFile:
        log(too_big)
        return None
    except OSError as exc:
        log(f"ignoring {path}: it cannot be read safely ({exc.strerror})")
        return None
    return data.decode("utf-8", "surrogateescape").split("\n")


def find(destdir: str, sdir: Path, log: Log, environ: dict[str, str] | None = None) -> Adoption:
    """What the upstream installation lists that this install takes over (files that exist now)."""
    adoption = Adoption()
    for list_path in list_files(environ):
        lines = _read_list(list_path, log)
        if lines is None:
            continue
        taken = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            why = adoptable_error(line, destdir, sdir)
            if why is None:
                try:
                    mode = os.lstat(line).st_mode
                except OSError:
                    continue                     # already gone (or upstream's literal glob)
                if not stat.S_ISREG(mode):
                    why = "not a regular file now"
            if why is not None:
                log(f"{list_path} line {number} ignored ({line.encode('unicode_escape').decode()!r}: {why})")
                continue
            taken += 1
            if line not in adoption.paths:
                adoption.paths.append(line)
        if taken:
            adoption.lists.append(list_path)
    if adoption.paths:
        log(f"adopting the upstream installation listed in {', '.join(map(str, adoption.lists))}: "
            f"{len(adoption.paths)} files replaced or removed by this install")
    return adoption


def remove(adoption: Adoption) -> None:
    """Inside the transaction (every path backed up): remove the adopted files, so only ours remain."""
    for path in adoption.paths:
        target = Path(path)
        if target.is_file() and not target.is_symlink():
            target.unlink()


def retire(adoption: Adoption, log: Log) -> None:
    """After the commit: rename each adopted list away, so the next run does not adopt it again."""
    for list_path in adoption.lists:
        try:
            os.replace(list_path, list_path.with_name(UPSTREAM_INSTALL_LIST_ADOPTED))
        except OSError as exc:
            log(f"WARNING: could not rename {list_path} ({exc.strerror}): remove it by hand")
