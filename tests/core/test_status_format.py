"""The readable blocks, without the CLI: upstream's labels and order, Go's zero values, wrong shapes refused."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.crio_api import CONTAINERS

from crio.errors import CrioError, ExitCode
from crio.status.format import format_container, format_info


def test_info_without_fields_prints_go_zero_values() -> None:
    assert format_info({}).splitlines() == [
        "cgroup driver: ",
        "storage driver: ",
        "storage graph root: ",
        "storage image: ",
        "default GID mappings (format <container>:<host>:<size>):",
        "default UID mappings (format <container>:<host>:<size>):",
    ]


def test_info_storage_image_and_mappings_in_order() -> None:
    info = {"storage_image": "/var/lib/images", "default_id_mappings": {
        "uids": [{"container_id": 0, "host_id": 0, "size": 4294967295}],
        "gids": [{"container_id": 1, "host_id": 2, "size": 3}, {"container_id": 4, "host_id": 5, "size": 6}]}}
    lines = format_info(info).splitlines()
    assert lines[3] == "storage image: /var/lib/images"
    assert lines[4:] == ["default GID mappings (format <container>:<host>:<size>):", "  1:2:3", "  4:5:6",
                         "default UID mappings (format <container>:<host>:<size>):", "  0:0:4294967295"]


def test_container_without_fields_prints_go_zero_values() -> None:
    assert format_container({}).splitlines() == [
        "name: ", "pid: 0", "image: ", "image ref: ", "created: 0", "labels:", "annotations:", "CRI-O annotations:",
        "log path: ", "graph root: ", "sandbox: ", "ips: ",
    ]


def test_container_maps_sorted_and_ips_joined() -> None:
    data = dict(CONTAINERS["3f5e0c2d9a1b"], labels={"b": "2", "a": "1", "c": "x: y"}, ip_addresses=["10.0.0.1"])
    lines = format_container(data).splitlines()
    assert lines[5:9] == ["labels:", "  a: 1", "  b: 2", "  c: x: y"]
    assert lines[-1] == "ips: 10.0.0.1"


def test_unknown_fields_are_not_printed() -> None:
    """host_network and whatever CRI-O adds later stay in --json only, as upstream prints fixed fields."""
    text = format_container(dict(CONTAINERS["3f5e0c2d9a1b"], host_network=True, future_field="x"))
    assert "host_network" not in text and "future" not in text


@pytest.mark.parametrize(("data", "key"), [
    ({"pid": "4242"}, "pid"),
    ({"pid": True}, "pid"),
    ({"created_time": 1.5}, "created_time"),
    ({"name": 7}, "name"),
    ({"labels": ["a"]}, "labels"),
    ({"annotations": {"a": 1}}, "annotations"),
    ({"ip_addresses": "10.0.0.1"}, "ip_addresses"),
    ({"ip_addresses": [1]}, "ip_addresses"),
])
def test_container_wrong_shapes_are_bad_responses(data: dict[str, Any], key: str) -> None:
    with pytest.raises(CrioError) as caught:
        format_container(data)
    assert caught.value.exit_code == ExitCode.BAD_RESPONSE and repr(key) in caught.value.message


@pytest.mark.parametrize("data", [
    {"default_id_mappings": []},
    {"default_id_mappings": {"uids": {}}},
    {"default_id_mappings": {"gids": [{"container_id": "0"}]}},
    {"storage_root": None, "cgroup_driver": 1},
])
def test_info_wrong_shapes_are_bad_responses(data: dict[str, Any]) -> None:
    with pytest.raises(CrioError) as caught:
        format_info(data)
    assert caught.value.exit_code == ExitCode.BAD_RESPONSE
