"""First MQTT topic levels that belong to the site's devices and adapters (docs/MQTT.md).

Something else publishing under them would reach the adapters as if a device had spoken, or a device as if the
site had commanded it: rule actions, notification channels and Home Assistant states stay outside them.
"""

from __future__ import annotations

DEVICE_TOPIC_ROOTS = frozenset({"outpost", "zigbee2mqtt", "stat", "tele", "cmnd", "shellies"})


def device_topic_root(topic: str, extra_roots: frozenset[str] = frozenset()) -> str | None:
    """The reserved first level `topic` starts with (also `$...`, the broker's own), or None if it is free."""
    root = topic.split("/", 1)[0]
    if root.startswith("$") or root in DEVICE_TOPIC_ROOTS or root in extra_roots:
        return root
    return None
