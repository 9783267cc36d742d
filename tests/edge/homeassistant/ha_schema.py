"""Home Assistant's documented MQTT discovery schema, written down independently of the code under test.

From home-assistant.io: integrations/mqtt (discovery topic `<prefix>/<component>/[<node_id>/]<object_id>/config`,
node and object ids of `[a-zA-Z0-9_-]`, `device` only with `unique_id`, `availability` list entries need `topic`,
not together with `availability_topic`), lock.mqtt (`command_topic` required), switch.mqtt (`command_topic`
required), binary_sensor.mqtt and sensor.mqtt (`state_topic` required), image.mqtt (exactly one of `image_topic` /
`url_topic`), and the device classes, state classes, units and entity categories of the sensor and binary_sensor
entity docs. Keys outside each component's documented options are errors here, so a typo cannot pass.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jinja2

ID = re.compile(r"^[a-zA-Z0-9_-]+$")
COMMON = {
    "availability",
    "availability_mode",
    "availability_topic",
    "device",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "origin",
    "qos",
    "unique_id",
}
KEYS = {
    "binary_sensor": {
        "state_topic",
        "device_class",
        "expire_after",
        "force_update",
        "off_delay",
        "payload_on",
        "payload_off",
        "value_template",
    },
    "sensor": {
        "state_topic",
        "device_class",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "state_class",
        "suggested_display_precision",
        "unit_of_measurement",
        "value_template",
    },
    "lock": {
        "state_topic",
        "command_topic",
        "command_template",
        "optimistic",
        "payload_lock",
        "payload_unlock",
        "payload_open",
        "payload_reset",
        "retain",
        "state_locked",
        "state_unlocked",
        "state_locking",
        "state_unlocking",
        "state_jammed",
        "state_open",
        "state_opening",
        "value_template",
        "code_format",
    },
    "switch": {
        "state_topic",
        "command_topic",
        "command_template",
        "device_class",
        "optimistic",
        "payload_on",
        "payload_off",
        "retain",
        "state_on",
        "state_off",
        "value_template",
    },
    "image": {"image_topic", "image_encoding", "url_topic", "url_template", "content_type"},
}
REQUIRED = {
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "lock": {"command_topic"},
    "switch": {"command_topic"},
    "image": set(),
}
BINARY_SENSOR_CLASSES = {
    "battery",
    "battery_charging",
    "carbon_monoxide",
    "cold",
    "connectivity",
    "door",
    "garage_door",
    "gas",
    "heat",
    "light",
    "lock",
    "moisture",
    "motion",
    "moving",
    "occupancy",
    "opening",
    "plug",
    "power",
    "presence",
    "problem",
    "running",
    "safety",
    "smoke",
    "sound",
    "tamper",
    "update",
    "vibration",
    "window",
}
# Sensor device classes used by a site box, with the units Home Assistant accepts for each.
SENSOR_UNITS = {
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "battery": {"%"},
    "signal_strength": {"dB", "dBm"},
    "duration": {"d", "h", "min", "s", "ms"},
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}


def check_discovery(topic: str, payload: bytes, prefix: str = "homeassistant") -> tuple[str, dict[str, Any]]:
    """Validate one discovery message; return (component, config). Raises AssertionError naming the problem."""
    parts = topic.split("/")
    assert len(parts) in (4, 5) and parts[0] == prefix and parts[-1] == "config", f"{topic}: not a discovery topic"
    component = parts[1]
    assert component in KEYS, f"{topic}: component {component!r} not expected"
    for level in parts[2:-1]:
        assert ID.match(level), f"{topic}: {level!r} has characters outside [a-zA-Z0-9_-]"
    config = json.loads(payload)
    assert isinstance(config, dict), f"{topic}: payload is not a JSON object"
    unknown = set(config) - COMMON - KEYS[component]
    assert not unknown, f"{topic}: keys {sorted(unknown)} are not {component} options"
    missing = REQUIRED[component] - set(config)
    assert not missing, f"{topic}: required {sorted(missing)} missing"
    if component == "image":
        assert ("image_topic" in config) != ("url_topic" in config), f"{topic}: exactly one of image_topic/url_topic"
    assert isinstance(config.get("unique_id"), str) and config["unique_id"], f"{topic}: unique_id needed"
    device = config.get("device")
    assert isinstance(device, dict), f"{topic}: device block missing"
    assert set(device) <= DEVICE_KEYS, f"{topic}: unknown device keys {sorted(set(device) - DEVICE_KEYS)}"
    assert device.get("identifiers") or device.get("connections"), f"{topic}: device needs identifiers"
    assert not ("availability" in config and "availability_topic" in config), f"{topic}: both availability forms"
    availability = config.get("availability")
    assert isinstance(availability, list) and availability, f"{topic}: availability list expected"
    assert all(isinstance(a, dict) and "topic" in a for a in availability), f"{topic}: availability entry w/o topic"
    if "availability_mode" in config:
        assert config["availability_mode"] in ("all", "any", "latest")
    if "entity_category" in config:
        assert config["entity_category"] in ENTITY_CATEGORIES, f"{topic}: entity_category"
    device_class = config.get("device_class")
    if component == "binary_sensor" and device_class is not None:
        assert device_class in BINARY_SENSOR_CLASSES, f"{topic}: binary_sensor class {device_class!r}"
    if component == "sensor":
        if device_class is not None:
            assert device_class in SENSOR_UNITS, f"{topic}: sensor class {device_class!r}"
            assert config.get("unit_of_measurement") in SENSOR_UNITS[device_class], f"{topic}: unit for class"
        if "state_class" in config:
            assert config["state_class"] in STATE_CLASSES, f"{topic}: state_class"
    for key in ("qos",):
        if key in config:
            assert config[key] in (0, 1, 2)
    return component, config


_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - not HTML


def render(template: str | None, payload: bytes) -> str:
    """Render a value template as Home Assistant does (`value`, `value_json`); no template: the payload."""
    value = payload.decode()
    if template is None:
        return value
    try:
        value_json: Any = json.loads(value)
    except ValueError:
        value_json = None
    return _TEMPLATES.from_string(template).render(value=value, value_json=value_json).strip()


def check_state(component: str, config: dict[str, Any], retained: dict[str, bytes]) -> None:
    """Every topic the config names carries a payload its component understands (from `retained`)."""
    topic = config["unique_id"]
    for entry in config["availability"]:
        assert entry["topic"] in retained, f"{topic}: availability topic {entry['topic']} has no message"
        available = render(entry.get("value_template"), retained[entry["topic"]])
        assert available in ("online", "offline"), f"{topic}: availability {available!r}"
    if "json_attributes_topic" in config:
        assert isinstance(json.loads(retained[config["json_attributes_topic"]]), dict)
    if component == "image":
        image = retained.get(config["image_topic"])
        assert image is not None and image[:3] == b"\xff\xd8\xff", f"{topic}: no JPEG on the image topic"
        assert config.get("content_type", "image/jpeg") == "image/jpeg"
        return
    state_topic = config.get("state_topic")
    if state_topic is None:
        return
    assert state_topic in retained, f"{topic}: state topic {state_topic} has no retained message"
    value = render(config.get("value_template"), retained[state_topic])
    if component == "binary_sensor":
        assert value in (config.get("payload_on", "ON"), config.get("payload_off", "OFF"), "None"), (
            f"{topic}: binary state {value!r}"
        )
    elif component == "switch":
        assert value in (
            config.get("state_on", config.get("payload_on", "ON")),
            config.get("state_off", config.get("payload_off", "OFF")),
        ), f"{topic}: switch {value!r}"
    elif component == "lock":
        states = {
            config.get(k, k.removeprefix("state_").upper())
            for k in ("state_locked", "state_unlocked", "state_locking", "state_unlocking", "state_jammed")
        }
        assert value in states | {config.get("payload_reset", "None")}, f"{topic}: lock state {value!r}"
    elif component == "sensor":
        float(value)  # numeric sensors (they have a unit or a state class)
