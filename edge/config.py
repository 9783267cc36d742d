"""Edge appliance configuration: one pydantic model, loaded from TOML plus env overrides.

Env overrides use ``OUTPOST_EDGE__SECTION__KEY=value`` (values parsed as TOML scalars when possible),
e.g. ``OUTPOST_EDGE__WEB__PORT=8080``.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.broker.acl import is_valid_filter
from edge.vision.config import CameraConfig, DetectorConfig
from firmware_adapters.outpost_mqtt.codec import DEVICE_ID_PATTERN
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig
from firmware_adapters.registry import AdapterConfig

ENV_PREFIX = "OUTPOST_EDGE__"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message names the bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteConfig(_Section):
    """Identity of the site this box serves."""

    id: str = Field(default="unenrolled", pattern=SLUG, description="Site id assigned at enrollment")
    name: str = Field(default="Outpost site", max_length=120, description="Human name of the site")
    timezone: str = Field(default="UTC", description="IANA time zone used for schedules")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


class StorageConfig(_Section):
    """Where the box keeps its database and snapshots."""

    data_dir: Path = Field(default=Path("/var/lib/outpost"), description="Directory for SQLite and snapshots")

    @property
    def database_path(self) -> Path:
        """Path of the SQLite database file."""
        return self.data_dir / "edge.db"

    @property
    def snapshot_dir(self) -> Path:
        """Directory of annotated camera snapshots."""
        return self.data_dir / "snapshots"


class MqttConfig(_Section):
    """The embedded MQTT broker."""

    host: str = Field(default="0.0.0.0", description="Address the broker listens on")
    port: int = Field(default=1883, ge=0, le=65535, description="Broker TCP port; 0 picks a free port")
    persist_sessions: bool = Field(default=True, description="Keep persistent sessions across restarts")
    accounts: list[MqttAccountConfig] = Field(default_factory=list, description="Extra broker accounts")


class MqttAccountConfig(_Section):
    """An extra broker account, e.g. for a Zigbee2MQTT bridge or an integration."""

    username: str = Field(pattern=DEVICE_ID_PATTERN, description="MQTT username (and client id prefix)")
    password_hash: str = Field(repr=False, description="argon2 hash of the password (outpost-edge hash-password)")
    publish: list[str] = Field(default_factory=list, description="Topic filters it may publish to")
    subscribe: list[str] = Field(default_factory=list, description="Topic filters it may subscribe to")

    @field_validator("publish", "subscribe")
    @classmethod
    def _valid_filters(cls, filters: list[str]) -> list[str]:
        for item in filters:
            if not is_valid_filter(item):
                raise ValueError(f"{item!r} is not a valid MQTT topic filter")
        return filters


class WebConfig(_Section):
    """The LAN web console."""

    host: str = Field(default="0.0.0.0", description="Address the console listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="Console TCP port; 0 picks a free port")
    initial_admin_password_file: Path | None = Field(
        default=None, description="If no console user exists, create 'admin' with the password in this file"
    )
    session_hours: float = Field(default=12, gt=0, le=24 * 30, description="Login session lifetime")


class CloudConfig(_Section):
    """Sync to the cloud aggregator; absent url = offline site."""

    url: str | None = Field(default=None, description="Base URL of the cloud aggregator")
    secret: str | None = Field(
        default=None, repr=False, description="Site HMAC secret (hex), from enrollment"
    )
    secret_file: Path | None = Field(default=None, description="File holding the site secret (mode 0600)")
    sync_interval_s: float = Field(default=2.0, gt=0, le=3600, description="Idle time between sync attempts")
    batch_size: int = Field(default=500, ge=1, le=5000, description="Records per sync batch")
    max_backoff_s: float = Field(default=60.0, gt=0, description="Upper bound of the retry backoff")

    @model_validator(mode="after")
    def _secret_with_url(self) -> CloudConfig:
        if self.url and not (self.secret or self.secret_file):
            raise ValueError("cloud.url is set but neither cloud.secret nor cloud.secret_file is")
        return self

    def read_secret(self) -> str | None:
        """Return the secret from the config or its file (which must not be readable by others)."""
        if self.secret:
            return self.secret
        if self.secret_file is None:
            return None
        check_private(self.secret_file)
        return self.secret_file.read_text().strip()


class ScheduleWindow(_Section):
    """A weekly time window in the site's time zone; end before start spans midnight."""

    days: list[Weekday] = Field(min_length=1, description="Weekdays the window starts on")
    start: time = Field(description="Local start time, HH:MM")
    end: time = Field(description="Local end time, HH:MM (exclusive)")


class ScheduleConfig(_Section):
    """A named weekly schedule."""

    windows: list[ScheduleWindow] = Field(default_factory=list, description="Open windows")


class ZoneConfig(_Section):
    """An area of the site."""

    id: str = Field(pattern=SLUG, description="Zone id")
    name: str = Field(description="Human name")


DeviceKind = Literal["reader", "lock", "contact", "sensor"]


class DeviceConfig(_Section):
    """A device that connects to the site broker."""

    id: str = Field(pattern=DEVICE_ID_PATTERN, description="Device id; also its MQTT username")
    kind: DeviceKind = Field(description="What the device is")
    zone: str = Field(description="Zone the device is in")
    name: str = Field(default="", description="Human name")
    password_hash: str | None = Field(
        default=None, repr=False, description="argon2 hash of the device's MQTT password"
    )
    adapter: AdapterConfig = Field(default_factory=OutpostMqttConfig, description="Protocol adapter")


class DoorConfig(_Section):
    """A door: its lock, readers and contact."""

    id: str = Field(pattern=SLUG, description="Door id")
    name: str = Field(description="Human name")
    zone: str = Field(description="Zone the door leads into")
    lock: str = Field(description="Device id of the lock")
    readers: list[str] = Field(default_factory=list, description="Device ids of readers at this door")
    contact: str | None = Field(default=None, description="Device id of the door contact")
    schedule: str = Field(default="always", description="Schedule when badges are honoured ('always')")
    unlock_s: float = Field(default=5.0, gt=0, le=600, description="How long a granted badge unlocks")


class VisionConfig(_Section):
    """Object detection settings shared by all cameras."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Detector backend")


class EdgeConfig(_Section):
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
            _expect_kind(devices, f"doors.{door.id}.lock", door.lock, "lock")
            for reader in door.readers:
                _expect_kind(devices, f"doors.{door.id}.readers", reader, "reader")
            if door.contact is not None:
                _expect_kind(devices, f"doors.{door.id}.contact", door.contact, "contact")
            if door.schedule != "always" and door.schedule not in self.schedules:
                raise ValueError(f"doors.{door.id}.schedule: unknown schedule {door.schedule!r}")
        return self

    def door_for_reader(self, reader_id: str) -> DoorConfig | None:
        """Return the door a reader belongs to."""
        return next((d for d in self.doors if reader_id in d.readers), None)

    def door_for_contact(self, contact_id: str) -> DoorConfig | None:
        """Return the door a contact supervises."""
        return next((d for d in self.doors if d.contact == contact_id), None)


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


def check_private(path: Path) -> None:
    """Raise ConfigError if a secret-bearing file is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: holds a secret but has mode {oct(mode & 0o777)}; run: chmod 600 {path}")


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(err: ValidationError) -> str:
    """Render pydantic errors as 'dotted.key: message' lines."""
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        msg = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"{key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path, environ: dict[str, str] | None = None) -> EdgeConfig:
    """Load, merge env overrides and validate the config file at `path`."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such config file") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    data = _merge(raw, _env_overrides(dict(os.environ) if environ is None else environ))
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid configuration\n{format_validation_error(err)}") from err
    if config.cloud.secret:
        check_private(path)
    return config
