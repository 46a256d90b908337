"""What a bundle's install script offers: read from its capabilities line, or (older scripts) asked with --help.

The capabilities line (`# crio-install-capabilities: list ...` among the first
lines, crio.artifacts.INSTALL_CAPABILITIES_TAG) is read, never run. A line that
names one of crio.artifacts.OPTIONS_DECLARED_BY lists every installer option the
script offers, so the options are taken from it and the script is run only to
plan (--list) and to install: one bash process fewer per install. An older
script of ours declares `list` but not those words: its --help says what it
offers, as before. scripts/get: `install_offers`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from crio.artifacts import (
    BUNDLE_INSTALL_SCRIPT,
    CAPABILITY_FILE_SUMS,
    CAPABILITY_MOVE_SOURCES,
    CAPABILITY_PLAN_FD,
    CAPABILITY_RECORD_META,
    CAPABILITY_VERIFIED_TARBALL,
    INSTALL_CAPABILITIES_LINES,
    INSTALL_CAPABILITIES_TAG,
    INSTALL_OPTION_CAPABILITIES,
    OPTIONS_DECLARED_BY,
)

Log = Callable[[str], None]
_CAPABILITIES_RE = re.compile(rb"# " + INSTALL_CAPABILITIES_TAG.encode() + rb":((?: [a-z][a-z0-9-]*)+)")

#: How an older script's --help shows each option it offers (the text the installers looked for).
HELP_TEXT: dict[str, str] = {
    CAPABILITY_VERIFIED_TARBALL: "--verified-tarball SHA256",
    CAPABILITY_RECORD_META: "--record-meta KEY=VALUE",
    CAPABILITY_MOVE_SOURCES: "--move-sources",
    CAPABILITY_FILE_SUMS: "--file-sums FILE",
    CAPABILITY_PLAN_FD: "--plan-fd FD",
}


def capabilities(script: Path) -> frozenset[str]:
    """What an install script declares on its capabilities line (empty: none, as upstream's). Never runs it."""
    try:
        fd = os.open(script, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return frozenset()
    with os.fdopen(fd, "rb") as handle:
        head = handle.read(8192)
    for line in head.split(b"\n")[:INSTALL_CAPABILITIES_LINES]:
        match = _CAPABILITIES_RE.fullmatch(line)
        if match:
            return frozenset(match.group(1).decode().split())
    return frozenset()


def offered(bundle: Path) -> frozenset[str]:
    """The installer options (capability words) the bundle's install script offers.

    From its capabilities line when that lists them; else from the text of its --help (an older
    script; a --help that fails offers nothing).
    """
    declared = capabilities(bundle / BUNDLE_INSTALL_SCRIPT)
    if declared & set(OPTIONS_DECLARED_BY):
        return declared & set(INSTALL_OPTION_CAPABILITIES)
    shown = subprocess.run(["bash", f"./{BUNDLE_INSTALL_SCRIPT}", "--help"], cwd=bundle,
                           capture_output=True, text=True, check=False)
    text = shown.stdout if shown.returncode == 0 else ""
    return frozenset(word for word, option in HELP_TEXT.items() if option in text)


def offered_options(bundle: Path, verified_sha256: str | None, record_meta: dict[str, str], log: Log,
                    move: bool = False) -> list[str]:
    """The options of the bundle's install script asked for that it offers (`offered`)."""
    if verified_sha256 is None and not record_meta and not move:
        return []
    offers = offered(bundle)
    extra: list[str] = []
    if verified_sha256 is not None and CAPABILITY_VERIFIED_TARBALL in offers:
        extra += ["--verified-tarball", verified_sha256]
    if record_meta and CAPABILITY_RECORD_META not in offers:
        log("WARNING: the bundle's install script cannot record its revision: a later downgrade from it is not "
            "detected")
    elif record_meta:
        extra += [arg for key, value in record_meta.items() for arg in ("--record-meta", f"{key}={value}")]
    if move and CAPABILITY_MOVE_SOURCES in offers:
        extra.append("--move-sources")
    return extra


def plans_once(bundle: Path) -> bool:
    """The bundle's install script declares --plan-fd/--go-fd on its capabilities line: it is run once, sending
    its plan before it writes anything (crio_installer.planned_run), instead of `--list` and then the install.
    Read from the line only (never from --help: no script offered it before the line listed the options)."""
    return CAPABILITY_PLAN_FD in capabilities(bundle / BUNDLE_INSTALL_SCRIPT)
