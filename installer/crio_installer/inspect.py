"""`--verify [--strict] [--json]` and `--status [--json]`: read what is installed, write nothing.

Output is on stdout, the same bytes as scripts/get's (tests/get/test_verify_status.py holds them together).
`--verify`: one line per finding (crio_installer.installed), then

    summary  checked=N missing=N changed=N config=N failed=N result=ok|failed[ previous-bytes=N]

`missing` and `changed` count paths of kind file or dir; `config` counts configs with any finding, which
fail (count in `failed`) only with `--strict`. Exit 0 when nothing failed, 19 (INSTALLED_DIFFERS) otherwise.
`--status`: `key: value` lines from the record's metadata; nothing installed is `installed: no`, exit 0.
With `--json`, one JSON object instead (compact, keys in a fixed order).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from crio.artifacts import INSTALL_PREVIOUS_DIR, INSTALL_RECORD
from crio.errors import CrioError, ExitCode
from crio_installer import installed, journal
from crio_installer.lock import LOCK_NAME, lock_timeout_from_env
from crio_installer.read_lock import shared_root_lock
from crio_installer.signer import (  # noqa: F401  (signer_value and the SIGNER_ values: read here too)
    META_INSTALL_TIME,
    META_SIGNER,
    SIGNER_KEY_PREFIX,
    SIGNER_KEYLESS_PREFIX,
    SIGNER_NONE,
    SIGNER_SKIPPED,
    signer_value,
)

Out = Callable[[str], None]
_PRINTABLE = re.compile(r"^[ -~]{1,256}$")
_TIME = re.compile(r"^(0|[1-9][0-9]{0,14})$")


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _check_state_dir(sdir: Path, destdir: str) -> None:
    why = journal.destination_error(str(sdir / LOCK_NAME), destdir)
    if why is not None:
        raise CrioError(f"the state directory {sdir} cannot be read as this root's ({why})", ExitCode.INSTALL)


def verify(sdir: Path, destdir: str, strict: bool, as_json: bool, out: Out, log: Out) -> ExitCode:
    """Compare every recorded path with the disk under the shared lock; print findings and a summary."""
    _check_state_dir(sdir, destdir)
    with shared_root_lock(sdir, lock_timeout_from_env(), log):
        record, record_path = installed.read_record(sdir)
        if (sdir / "transaction").exists() or (sdir / "transaction").is_symlink():
            log(f"WARNING: an interrupted install left {sdir / 'transaction'}: the next install or uninstall "
                "restores the installation it started from; the files are verified as they are now")
        entries = installed.entries_of(record, sdir, destdir)
        findings = installed.compare(entries, destdir)
        kept = installed.previous_bytes(sdir)
    by_path: dict[str, tuple[str, bool]] = {}      # path -> (kind, missing)
    for finding in findings:
        by_path.setdefault(finding.path, (finding.kind, finding.state == "missing"))
    missing = sum(1 for kind, gone in by_path.values() if kind != "config" and gone)
    changed = sum(1 for kind, gone in by_path.values() if kind != "config" and not gone)
    config = sum(1 for kind, _ in by_path.values() if kind == "config")
    failed = missing + changed + (config if strict else 0)
    result = "failed" if failed else "ok"
    if as_json:
        summary: dict[str, object] = {"checked": len(entries), "missing": missing, "changed": changed,
                                      "config": config, "failed": failed, "strict": strict, "result": result,
                                      "previous_bytes": kept}
        out(_dump({"record": str(record_path), "findings": [
            {"state": f.state, "what": f.what, "kind": f.kind, "path": f.path, "expected": f.expected,
             "actual": f.actual} for f in findings], "summary": summary}))
    else:
        for finding in findings:
            out(finding.line())
        line = (f"summary  checked={len(entries)} missing={missing} changed={changed} config={config} "
                f"failed={failed} result={result}")
        out(line + ("" if kept is None else f" previous-bytes={kept}"))
    return ExitCode.INSTALLED_DIFFERS if failed else ExitCode.OK


def _when(value: int | None) -> str:
    if value is None:
        return "unknown (not recorded)"
    return f"{datetime.fromtimestamp(value, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} ({value})"


def status(sdir: Path, destdir: str, as_json: bool, out: Out) -> ExitCode:
    """What the record says is installed (revision, channel, times, signer) and whether a previous one is kept."""
    _check_state_dir(sdir, destdir)
    record_path = sdir / INSTALL_RECORD
    if not (record_path.exists() or record_path.is_symlink()):
        if as_json:
            out(_dump({"installed": False, "record": str(record_path)}))
        else:
            out("installed: no")
            out(f"record: {record_path} (not found)")
        return ExitCode.OK
    record, _ = installed.read_record(sdir)
    meta = record.meta

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if value is not None and _PRINTABLE.match(value) else None

    def number(key: str) -> int | None:
        value = meta.get(key)
        return int(value) if value is not None and _TIME.match(value) else None

    kept = installed.previous_bytes(sdir)
    fields: dict[str, object] = {
        "installed": True, "record": str(record_path), "revision": text("revision"), "arch": text("arch"),
        "channel": text("channel"), "build_time": number("build-time"), "signer": text(META_SIGNER),
        "install_time": number(META_INSTALL_TIME), "previous_kept": kept is not None, "previous_bytes": kept,
    }
    if as_json:
        out(_dump(fields))
        return ExitCode.OK
    unknown = "unknown (not recorded)"
    out("installed: yes")
    for label, key in (("revision", "revision"), ("arch", "arch"), ("channel", "channel")):
        out(f"{label}: {fields[key] or unknown}")
    out(f"build time: {_when(fields['build_time'])}")       # type: ignore[arg-type]
    out(f"signer: {fields['signer'] or unknown}")
    out(f"install time: {_when(fields['install_time'])}")   # type: ignore[arg-type]
    previous = "none" if kept is None else f"kept ({kept} bytes in {sdir / INSTALL_PREVIOUS_DIR})"
    out(f"previous installation: {previous}")
    out(f"record: {record_path}")
    return ExitCode.OK

