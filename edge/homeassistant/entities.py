"""Home Assistant discovery configs of the box's entities (pure: config in, configs out).

One Home Assistant device per box (lockdown, site alarm), per door, per configured device and per camera; every
entity's `unique_id` is built from the node id and config ids only, so it is the same after every restart.
Reading entities (temperature, battery, ...) are announced once a device first reports that reading.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from edge.config import DeviceConfig, DoorConfig, EdgeConfig
from edge.homeassistant.topics import HaTopics
from edge.vision.config import CameraConfig

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
CATEGORY_UNITS = {"person": "people", "vehicle": "vehicles"}


@dataclass(frozen=True)
class HaEntity:
    """One entity: its component (lock, sensor, ...), object id and discovery config."""

    component: str
    object_id: str
    config: dict[str, Any]

    @property
    def unique_id(self) -> str:
        """Home Assistant's stable id of the entity."""
        return str(self.config["unique_id"])

    @property
    def name(self) -> str:
        """The entity's name as shown under its device."""
        return str(self.config["name"])

    @property
    def commandable(self) -> bool:
        """True if Home Assistant can send commands through it."""
        return "command_topic" in self.config


@dataclass(frozen=True)
class Reading:
    """How one telemetry reading becomes an entity."""

    component: str
    name: str
    device_class: str | None = None
    unit: str | None = None
    diagnostic: bool = False

    def template(self, key: str) -> str:
        """The value template that takes the reading from the device's state JSON."""
        if self.component == "binary_sensor":
            return f"{{{{ 'ON' if value_json.{key} >= 0.5 else 'OFF' }}}}"
        return f"{{{{ value_json.{key} }}}}"


# Readings of the telemetry contract (docs/MQTT.md) that are worth an entity; `locked` is the door's lock.
READINGS: dict[str, Reading] = {
    "temperature_c": Reading("sensor", "Temperature", "temperature", "°C"),
    "humidity_pct": Reading("sensor", "Humidity", "humidity", "%"),
    "battery_pct": Reading("sensor", "Battery", "battery", "%", diagnostic=True),
    "linkquality": Reading("sensor", "Link quality", None, "lqi", diagnostic=True),
    "wifi_signal_dbm": Reading("sensor", "Wi-Fi signal", "signal_strength", "dBm", diagnostic=True),
    "wifi_rssi_pct": Reading("sensor", "Wi-Fi signal quality", None, "%", diagnostic=True),
    "uptime_s": Reading("sensor", "Uptime", "duration", "s", diagnostic=True),
    "battery_low": Reading("binary_sensor", "Battery low", "battery", diagnostic=True),
    "tamper": Reading("binary_sensor", "Tamper", "tamper"),
    "power_fail": Reading("binary_sensor", "Power failure", "problem"),
}


def safe_id(text: str) -> str:
    """`text` as a discovery topic level: unsafe characters replaced, plus a short hash when any were."""
    cleaned = _UNSAFE.sub("_", text)
    if cleaned == text:
        return text
    return f"{cleaned}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"  # noqa: S324 - a name, not a secret


class EntityBuilder:
    """Builds the discovery configs of one box from its config."""

    def __init__(self, config: EdgeConfig, topics: HaTopics, software_version: str) -> None:
        self._config = config
        self._topics = topics
        self._version = software_version
        self._box_id = f"outpost_{topics.node}"
        self._devices = {d.id: d for d in config.devices}

    # --- shared parts --------------------------------------------------------------------------------------

    def _entity(self, component: str, object_id: str, name: str, device: dict[str, Any], **fields: Any) -> HaEntity:
        config: dict[str, Any] = {
            "name": name,
            "unique_id": f"{self._box_id}_{object_id}",
            "availability": [{"topic": self._topics.status}],
            "device": device,
            "origin": {"name": "Outpost", "sw_version": self._version},
            "qos": 1,
        }
        config.update({key: value for key, value in fields.items() if value is not None})
        return HaEntity(component, object_id, config)

    def _box_device(self) -> dict[str, Any]:
        return {
            "identifiers": [self._box_id],
            "name": self._config.site.name,
            "manufacturer": "Outpost",
            "model": "Outpost edge box",
            "sw_version": self._version,
        }

    def _child_device(self, kind: str, item_id: str, name: str, model: str, area: str | None) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [f"{self._box_id}_{kind}_{item_id}"],
            "name": name,
            "manufacturer": "Outpost",
            "model": model,
            "via_device": self._box_id,
        }
        if area:
            device["suggested_area"] = area
        return device

    def _zone_name(self, zone_id: str | None) -> str | None:
        return next((z.name for z in self._config.zones if z.id == zone_id), None)

    # --- entities ------------------------------------------------------------------------------------------

    def static_entities(self) -> list[HaEntity]:
        """Every entity known from the config alone (doors, cameras, lockdown, alarms, device connectivity)."""
        ha = self._config.homeassistant
        entities = self._box_entities()
        for door in self._config.doors:
            if ha.exposes_door(door.id):
                entities += self._door_entities(door)
        for device in self._config.devices:
            if ha.exposes_device(device.id):
                entities.append(self._connectivity(device))
        for camera in self._config.cameras:
            if camera.enabled and ha.exposes_camera(camera.id):
                entities += self._camera_entities(camera)
        return entities

    def _box_entities(self) -> list[HaEntity]:
        box = self._box_device()
        state = self._topics.lockdown("state")
        if self._config.homeassistant.command_lockdown:
            lockdown = self._entity(
                "switch",
                "lockdown",
                "Lockdown",
                box,
                state_topic=state,
                command_topic=self._topics.lockdown("set"),
                payload_on="ON",
                payload_off="OFF",
                icon="mdi:shield-lock",
            )
        else:
            lockdown = self._entity(
                "binary_sensor", "lockdown", "Lockdown", box, state_topic=state, device_class="safety"
            )
        alarm = self._entity(
            "binary_sensor",
            "alarm",
            "Alarm",
            box,
            state_topic=self._topics.alarms,
            value_template="{{ 'ON' if value_json.active > 0 else 'OFF' }}",
            json_attributes_topic=self._topics.alarms,
            device_class="problem",
        )
        return [lockdown, alarm]

    def _door_entities(self, door: DoorConfig) -> list[HaEntity]:
        device = self._child_device("door", door.id, door.name, "Door", self._zone_name(door.zone))
        state = self._topics.door(door.id, "state")
        entities: list[HaEntity] = []
        if self._config.homeassistant.commands_door(door.id):
            entities.append(
                self._entity(
                    "lock",
                    f"door_{door.id}_lock",
                    "Lock",
                    device,
                    state_topic=state,
                    command_topic=self._topics.door(door.id, "set"),
                    payload_lock="LOCK",
                    payload_unlock="UNLOCK",
                    state_locked="LOCKED",
                    state_unlocked="UNLOCKED",
                    state_locking="LOCKING",
                    state_unlocking="UNLOCKING",
                    state_jammed="JAMMED",
                )
            )
        else:
            # Read-only: Home Assistant's lock needs a command topic, so the state is a lock binary_sensor (on =
            # unlocked, as Home Assistant defines it; a jammed bolt is not locked).
            entities.append(
                self._entity(
                    "binary_sensor",
                    f"door_{door.id}_lock",
                    "Lock",
                    device,
                    state_topic=state,
                    value_template="{{ 'None' if value == 'None' else ('OFF' if value == 'LOCKED' else 'ON') }}",
                    device_class="lock",
                )
            )
        if door.contact is not None:
            entities.append(
                self._entity(
                    "binary_sensor",
                    f"door_{door.id}_contact",
                    "Door",
                    device,
                    state_topic=self._topics.door(door.id, "contact"),
                    device_class="door",
                )
            )
        alarms = self._topics.door(door.id, "alarms")
        for key, name, device_class in (
            ("any", "Alarm", "problem"),
            ("forced_open", "Forced open", "safety"),
            ("held_open", "Held open", "problem"),
            ("lock_jammed", "Lock jammed", "problem"),
        ):
            entities.append(
                self._entity(
                    "binary_sensor",
                    f"door_{door.id}_{key}",
                    name,
                    device,
                    state_topic=alarms,
                    value_template=f"{{{{ value_json.{key} }}}}",
                    json_attributes_topic=alarms if key == "any" else None,
                    device_class=device_class,
                )
            )
        return entities

    def _device_block(self, device: DeviceConfig) -> dict[str, Any]:
        model = f"{device.kind} ({device.adapter.type})"
        return self._child_device("device", device.id, device.id, model, self._zone_name(device.zone))

    def _connectivity(self, device: DeviceConfig) -> HaEntity:
        return self._entity(
            "binary_sensor",
            f"device_{device.id}_online",
            "Online",
            self._device_block(device),
            state_topic=self._topics.device(device.id),
            value_template="{{ 'ON' if value_json.online else 'OFF' }}",
            device_class="connectivity",
            entity_category="diagnostic",
        )

    def reading_entity(self, device_id: str, key: str) -> HaEntity | None:
        """The entity of one reading a device reported, or None if it is not exposed or not worth one."""
        reading = READINGS.get(key)
        device = self._devices.get(device_id)
        if reading is None or device is None or not self._config.homeassistant.exposes_device(device_id):
            return None
        state = self._topics.device(device_id)
        entity = self._entity(
            reading.component,
            f"device_{device_id}_{key}",
            reading.name,
            self._device_block(device),
            state_topic=state,
            value_template=reading.template(key),
            device_class=reading.device_class,
            unit_of_measurement=reading.unit,
            state_class="measurement" if reading.component == "sensor" else None,
            entity_category="diagnostic" if reading.diagnostic else None,
        )
        # Unavailable while the box or the device is offline.
        entity.config["availability"] = [
            {"topic": self._topics.status},
            {"topic": state, "value_template": "{{ 'online' if value_json.online else 'offline' }}"},
        ]
        entity.config["availability_mode"] = "all"
        return entity

    def _camera_entities(self, camera: CameraConfig) -> list[HaEntity]:
        device = self._child_device("camera", camera.id, camera.name, "Camera", self._zone_name(camera.zone))
        analytics = self._topics.camera(camera.id, "analytics")
        entities = [
            self._entity(
                "image",
                f"camera_{camera.id}_snapshot",
                "Latest snapshot",
                device,
                image_topic=self._topics.camera(camera.id, "image"),
                content_type="image/jpeg",
            )
        ]
        for zone in camera.zones:
            for category in zone.categories:
                entities.append(
                    self._entity(
                        "sensor",
                        f"camera_{camera.id}_zone_{safe_id(zone.name)}_{category}",
                        f"{zone.name} {category} occupancy",
                        device,
                        state_topic=analytics,
                        value_template=f"{{{{ value_json.zones[{zone.name!r}].{category} }}}}",
                        unit_of_measurement=CATEGORY_UNITS[category],
                        state_class="measurement",
                        icon="mdi:account-group" if category == "person" else "mdi:car",
                    )
                )
        for line in camera.lines:
            for direction in ("in", "out"):
                for category in line.categories:
                    entities.append(
                        self._entity(
                            "sensor",
                            f"camera_{camera.id}_line_{safe_id(line.name)}_{direction}_{category}",
                            f"{line.name} {category} {direction}",
                            device,
                            state_topic=analytics,
                            value_template=f"{{{{ value_json.lines[{line.name!r}][{direction!r}].{category} }}}}",
                            unit_of_measurement=CATEGORY_UNITS[category],
                            state_class="total_increasing",
                            icon="mdi:counter",
                        )
                    )
        return entities
