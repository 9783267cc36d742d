"""The whole edge configuration: its sections and the checks that references between them resolve."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.broker.passwords import scheme_of
from edge.config.access import AccessConfig
from edge.config.base import Section
from edge.config.cloud import CloudConfig
from edge.config.devices import DeviceConfig
from edge.config.doors import DoorConfig
from edge.config.homeassistant import HomeAssistantConfig
from edge.config.mqtt import MqttConfig
from edge.config.rules import RulesConfig
from edge.config.schedules import HolidayCalendarConfig, ScheduleConfig
from edge.config.site import SiteConfig
from edge.config.storage import StorageConfig
from edge.config.vision import VisionConfig
from edge.config.web import WebConfig
from edge.config.zones import ZoneConfig
from edge.vision.config import CameraConfig


class EdgeConfig(Section):
    """The whole edge appliance configuration."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="Site identity")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage paths")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Embedded broker")
    web: WebConfig = Field(default_factory=WebConfig, description="LAN console")
    cloud: CloudConfig = Field(default_factory=CloudConfig, description="Cloud sync")
    vision: VisionConfig = Field(default_factory=VisionConfig, description="Detection")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones of the site")
    devices: list[DeviceConfig] = Field(default_factory=list, description="MQTT devices")
    doors: list[DoorConfig] = Field(default_factory=list, description="Doors")
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict, description="Named schedules")
    holidays: dict[str, HolidayCalendarConfig] = Field(
        default_factory=dict, description="Holiday calendars by id, referenced by schedules"
    )
    access: AccessConfig = Field(default_factory=AccessConfig, description="Access control policy")
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Rule notification channels")
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant MQTT discovery (off by default)"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> EdgeConfig:
        zones = {z.id for z in self.zones}
        devices = {d.id: d for d in self.devices}
        _unique("zones", [z.id for z in self.zones])
        _unique("devices", [d.id for d in self.devices])
        _unique("doors", [d.id for d in self.doors])
        _unique("cameras", [c.id for c in self.cameras])
        for dev in self.devices:
            if dev.zone not in zones:
                raise ValueError(f"devices.{dev.id}.zone: unknown zone {dev.zone!r}")
        for cam in self.cameras:
            if cam.zone is not None and cam.zone not in zones:
                raise ValueError(f"cameras.{cam.id}.zone: unknown zone {cam.zone!r}")
        for door in self.doors:
            if door.zone not in zones:
                raise ValueError(f"doors.{door.id}.zone: unknown zone {door.zone!r}")
            if door.camera is not None and door.camera not in {c.id for c in self.cameras}:
                raise ValueError(f"doors.{door.id}.camera: unknown camera {door.camera!r}")
            _check_door_region(door, {c.id: c for c in self.cameras})
            _expect_kind(devices, f"doors.{door.id}.lock", door.lock, "lock")
            for reader in door.reader_ids:
                _expect_kind(devices, f"doors.{door.id}.readers", reader, "reader")
            if door.contact is not None:
                _expect_kind(devices, f"doors.{door.id}.contact", door.contact, "contact")
            if door.schedule != "always" and door.schedule not in self.schedules:
                raise ValueError(f"doors.{door.id}.schedule: unknown schedule {door.schedule!r}")
        return self

    @model_validator(mode="after")
    def _access_references_resolve(self) -> EdgeConfig:
        devices = {d.id: d for d in self.devices}
        zones = {z.id: z for z in self.zones}
        doors = {d.id for d in self.doors}

        def schedule_known(key: str, name: str) -> None:
            if name != "always" and name not in self.schedules:
                raise ValueError(f"{key}: unknown schedule {name!r}")

        for name, schedule in self.schedules.items():
            for calendar in schedule.holidays:
                if calendar not in self.holidays:
                    raise ValueError(f"schedules.{name}.holidays: unknown holiday calendar {calendar!r}")
        readers_seen: dict[str, str] = {}
        inputs_seen: dict[str, str] = {}
        for door in self.doors:
            for reader in door.reader_ids:
                if reader in readers_seen:
                    raise ValueError(f"doors.{door.id}.readers: {reader!r} is already at door {readers_seen[reader]!r}")
                readers_seen[reader] = door.id
            for key, device in (("contact", door.contact), ("rex", door.rex)):
                if device is None:
                    continue
                if device in inputs_seen:
                    raise ValueError(f"doors.{door.id}.{key}: {device!r} is already used by {inputs_seen[device]}")
                inputs_seen[device] = f"doors.{door.id}"
            if door.rex is not None:
                _expect_kind(devices, f"doors.{door.id}.rex", door.rex, "contact")
            if door.unlock_schedule is not None:
                schedule_known(f"doors.{door.id}.unlock_schedule", door.unlock_schedule)
        if self.access.plate_gate.unknown_plate_hours is not None:
            schedule_known("access.plate_gate.unknown_plate_hours", self.access.plate_gate.unknown_plate_hours)
        for vehicle in self.access.vehicles:
            for level_id in vehicle.levels:
                if level_id not in self.access.levels:
                    raise ValueError(f"access.vehicles.{vehicle.plate}.levels: unknown level {level_id!r}")
        for level_id, level in self.access.levels.items():
            schedule_known(f"access.levels.{level_id}.schedule", level.schedule)
            for door_id in level.doors:
                if door_id != "*" and door_id not in doors:
                    raise ValueError(f"access.levels.{level_id}.doors: unknown door {door_id!r}")
        for zone in zones.values():
            if zone.passback == "off":
                continue
            directions = {r.direction for d in self.doors if d.zone == zone.id for r in d.readers}
            if directions != {"in", "out"}:
                raise ValueError(f"zones.{zone.id}.passback: needs at least one 'in' and one 'out' reader on its doors")
        return self

    @model_validator(mode="after")
    def _home_assistant_references_resolve(self) -> EdgeConfig:
        _home_assistant_references(self)
        return self

    @model_validator(mode="after")
    def _mqtt_hashes_fit_broker(self) -> EdgeConfig:
        # Owned with MqttConfig: an external Mosquitto can check only its own $7$ hashes.
        wanted = ("mosquitto",) if self.mqtt.mode == "external" else ("argon2", "mosquitto")
        hashes = [(f"devices.{d.id}.password_hash", d.password_hash) for d in self.devices if d.password_hash]
        hashes += [(f"mqtt.accounts.{a.username}.password_hash", a.password_hash) for a in self.mqtt.accounts]
        if self.homeassistant.enabled and self.homeassistant.password_hash:
            hashes.append(("homeassistant.password_hash", self.homeassistant.password_hash))
        for key, value in hashes:
            if scheme_of(value) not in wanted:
                raise ValueError(
                    f"{key}: not a {' or '.join(wanted)} password hash"
                    + (
                        " (mqtt.mode = 'external' needs `outpost-edge hash-password --format mosquitto`)"
                        if self.mqtt.mode == "external"
                        else ""
                    )
                )
        return self


def _home_assistant_references(config: EdgeConfig) -> None:
    """Raise ValueError for a Home Assistant door, device or camera the config does not have, or a taken account."""
    ha = config.homeassistant
    known = {
        "doors": {d.id for d in config.doors},
        "command_doors": {d.id for d in config.doors},
        "devices": {d.id for d in config.devices},
        "cameras": {c.id for c in config.cameras},
    }
    for key, ids in (("doors", ha.doors), ("command_doors", ha.command_doors), ("devices", ha.devices)):
        for item in ids:
            if item != "*" and item not in known[key]:
                raise ValueError(f"homeassistant.{key}: unknown {key.removeprefix('command_')[:-1]} {item!r}")
    for item in ha.cameras:
        if item != "*" and item not in known["cameras"]:
            raise ValueError(f"homeassistant.cameras: unknown camera {item!r}")
    for door_id in ha.command_doors:
        if door_id != "*" and not ha.exposes_door(door_id):
            raise ValueError(f"homeassistant.command_doors: door {door_id!r} is not in homeassistant.doors")
    if ha.enabled and (ha.username in known["devices"] or ha.username in {a.username for a in config.mqtt.accounts}):
        raise ValueError(f"homeassistant.username: {ha.username!r} is already a broker account")


def _unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{section}: duplicate id {item!r}")
        seen.add(item)


def _expect_kind(devices: dict[str, DeviceConfig], key: str, device_id: str, kind: str) -> None:
    dev = devices.get(device_id)
    if dev is None:
        raise ValueError(f"{key}: unknown device {device_id!r}")
    if dev.kind != kind:
        raise ValueError(f"{key}: device {device_id!r} is a {dev.kind}, not a {kind}")


def _check_door_region(door: DoorConfig, cameras: dict[str, CameraConfig]) -> None:
    """Raise ValueError when a door's camera_line or camera_zone is not a line or zone of its camera."""
    camera = cameras.get(door.camera or "")
    if camera is None:
        return
    if door.camera_line is not None and door.camera_line not in {ln.name for ln in camera.lines}:
        raise ValueError(f"doors.{door.id}.camera_line: camera {camera.id!r} has no line {door.camera_line!r}")
    if door.camera_zone is not None and door.camera_zone not in {z.name for z in camera.zones}:
        raise ValueError(f"doors.{door.id}.camera_zone: camera {camera.id!r} has no zone {door.camera_zone!r}")
