"""The registry and the device gateway: configs pick adapters, adapters get their own broker accounts, and an
adapter whose hardware is missing does not take the site down."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge import keys
from edge.devices.gateway import adapter_username
from firmware_adapters.base import AdapterError
from firmware_adapters.messages import Feedback
from firmware_adapters.registry import ADAPTER_TYPES
from tests.edge.site import DEVICE_HASHES
from tests.firmware_adapters.sites import EdgeStarter, adapter_site


def test_every_adapter_is_registered_with_its_config() -> None:
    assert set(ADAPTER_TYPES) == {"outpost_mqtt", "zigbee2mqtt", "tasmota", "osdp", "wiegand"}
    for type_key, adapter in ADAPTER_TYPES.items():
        assert adapter.type_key == type_key


def test_adapter_usernames() -> None:
    assert adapter_username("outpost_mqtt", "outpost_mqtt") == "adapter-outpost_mqtt"
    assert adapter_username("zigbee2mqtt", "z2m-annex") == "adapter-zigbee2mqtt-z2m-annex"
    assert adapter_username("osdp", "/dev/ttyUSB0") == "adapter-osdp-_dev_ttyUSB0"


async def test_missing_hardware_leaves_the_rest_running(start_edge: EdgeStarter, tmp_path: Path) -> None:
    devices = [
        {"id": "reader-front", "kind": "reader", "zone": "lobby", "password_hash": DEVICE_HASHES["reader-front"]},
        {"id": "lock-front", "kind": "lock", "zone": "lobby", "password_hash": DEVICE_HASHES["lock-front"]},
        {
            "id": "reader-osdp",
            "kind": "reader",
            "zone": "lobby",
            "adapter": {"type": "osdp", "port": "/dev/ttyOUTPOST-missing", "address": 1},
        },
        {
            "id": "reader-wiegand",
            "kind": "reader",
            "zone": "lobby",
            "adapter": {"type": "wiegand", "chip": "/dev/gpiochip-missing", "d0": 1, "d1": 2},
        },
        {"id": "lock-z", "kind": "lock", "zone": "lobby", "adapter": {"type": "zigbee2mqtt", "friendly_name": "gate"}},
    ]
    doors = [
        {
            "id": "front",
            "name": "Front",
            "zone": "lobby",
            "lock": "lock-front",
            "readers": ["reader-front", "reader-osdp", "reader-wiegand"],
        }
    ]
    edge = await start_edge(adapter_site(tmp_path / "edge", devices, doors))
    gateway = edge.app[keys.GATEWAY]
    assert gateway.stats()["adapters_failed"] == 2
    assert set(gateway.failed) == {"osdp:/dev/ttyOUTPOST-missing", "wiegand:/dev/gpiochip-missing"}
    with pytest.raises(AdapterError, match="not running"):
        await gateway.send("reader-osdp", Feedback(id="x", granted=True))
    users = edge.app[keys.BROKER].directory.users
    assert {"adapter-outpost_mqtt", "adapter-zigbee2mqtt"} <= set(users)
    assert users["adapter-zigbee2mqtt"].publish == ("zigbee2mqtt/+/set",)
    assert not any(name.startswith(("adapter-osdp", "adapter-wiegand")) for name in users)


def test_device_kinds_are_edge_kinds() -> None:
    from typing import get_args

    from edge.config import DeviceKind

    for adapter in ADAPTER_TYPES.values():
        assert adapter.device_kinds is None or adapter.device_kinds <= set(get_args(DeviceKind))
