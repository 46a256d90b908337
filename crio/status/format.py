"""The readable forms of CRI-O's `/info` and `/containers/ID` answers, line for line as `crio status` prints them.

Field names are those of CRI-O's `pkg/types` (`CrioInfo`, `ContainerInfo`); a field
CRI-O leaves out prints as Go's zero value, as upstream does. Two deliberate
differences: maps print sorted by key (Go's map order is random), and a field of
the wrong JSON type is a bad response (exit 14) rather than a half-printed block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crio.errors import CrioError, ExitCode

_MAPPING_FORMAT = "(format <container>:<host>:<size>)"


def _bad(where: str, key: str, expected: str) -> CrioError:
    return CrioError(f"CRI-O's answer to {where} has {key!r} that is not {expected}", ExitCode.BAD_RESPONSE)


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(where, key, "a string")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, key, "an integer")
    return value


def _string_map(data: Mapping[str, Any], key: str, where: str) -> list[tuple[str, str]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _bad(where, key, "an object of strings")
    return sorted(value.items())


def _string_list(data: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, key, "a list of strings")
    return value


def _mappings(info: Mapping[str, Any], key: str) -> list[str]:
    where = "/info"
    outer = info.get("default_id_mappings")
    if outer is None:
        return []
    if not isinstance(outer, dict):
        raise _bad(where, "default_id_mappings", "an object")
    entries = outer.get(key)
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _bad(where, f"default_id_mappings.{key}", "a list of objects")
    return [
        "  " + ":".join(str(_number(e, f, where)) for f in ("container_id", "host_id", "size")) for e in entries
    ]


def format_info(info: Mapping[str, Any]) -> str:
    """`crio status info`: drivers, graph root, storage image, then the GID and the UID mappings."""
    where = "/info"
    lines = [
        f"cgroup driver: {_text(info, 'cgroup_driver', where)}",
        f"storage driver: {_text(info, 'storage_driver', where)}",
        f"storage graph root: {_text(info, 'storage_root', where)}",
        f"storage image: {_text(info, 'storage_image', where)}",
        f"default GID mappings {_MAPPING_FORMAT}:",
        *_mappings(info, "gids"),
        f"default UID mappings {_MAPPING_FORMAT}:",
        *_mappings(info, "uids"),
    ]
    return "\n".join(lines)


def format_container(info: Mapping[str, Any]) -> str:
    """`crio status containers`: fixed labels in upstream's order; maps as indented `k: v` lines, IPs joined."""
    where = "/containers"
    lines = [
        f"name: {_text(info, 'name', where)}",
        f"pid: {_number(info, 'pid', where)}",
        f"image: {_text(info, 'image', where)}",
        f"image ref: {_text(info, 'image_ref', where)}",
        f"created: {_number(info, 'created_time', where)}",
    ]
    for title, key in (("labels", "labels"), ("annotations", "annotations"), ("CRI-O annotations", "crio_annotations")):
        lines.append(f"{title}:")
        lines += [f"  {k}: {v}" for k, v in _string_map(info, key, where)]
    lines += [
        f"log path: {_text(info, 'log_path', where)}",
        f"graph root: {_text(info, 'root', where)}",
        f"sandbox: {_text(info, 'sandbox', where)}",
        f"ips: {', '.join(_string_list(info, 'ip_addresses', where))}",
    ]
    return "\n".join(lines)
