"""Edge appliance configuration: one pydantic model, loaded from TOML plus env overrides.

Env overrides use ``OUTPOST_EDGE__SECTION__KEY=value`` (values parsed as TOML scalars when possible),
e.g. ``OUTPOST_EDGE__WEB__PORT=8080``.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.broker.acl import is_valid_filter
from edge.broker.passwords import scheme_of
from edge.vision.clips import ClipConfig
from edge.vision.config import CameraConfig, DetectorConfig
from edge.vision.plates import PlateReaderConfig
from edge.vision.retention import RetentionPolicy
from firmware_adapters.outpost_mqtt.codec import DEVICE_ID_PATTERN
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig
from firmware_adapters.registry import ADAPTER_TYPES, AdapterConfig

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

    @property
    def clip_dir(self) -> Path:
        """Directory of event clips."""
        return self.data_dir / "clips"


class MqttConfig(_Section):
    """The site's MQTT broker: embedded (amqtt, the default) or an external Mosquitto for large sites."""

    mode: Literal["embedded", "external"] = Field(
        default="embedded",
        description="'embedded': the edge's own broker; 'external': Mosquitto fed from the same accounts "
        "(large sites; every password hash must then be a Mosquitto $7$ hash). See docs/MQTT.md",
    )
    host: str = Field(default="0.0.0.0", description="Address the broker listens on (embedded or managed Mosquitto)")
    port: int = Field(default=1883, ge=0, le=65535, description="Broker TCP port; 0 picks a free port")
    persist_sessions: bool = Field(default=True, description="Keep persistent sessions across restarts")
    core_in_process: bool = Field(
        default=True,
        description="Embedded mode: the site core's adapters join the broker in-process (no socket) instead of "
        "connecting over TCP like a device; same accounts and ACLs. Off only for debugging or comparison",
    )
    accounts: list[MqttAccountConfig] = Field(default_factory=list, description="Extra broker accounts")
    external_manage: bool = Field(
        default=True,
        description="External mode: run and supervise a private mosquitto on host/port (true), or only write "
        "the password and ACL files for a system-managed Mosquitto at external_host/external_port (false)",
    )
    external_binary: Path = Field(default=Path("/usr/sbin/mosquitto"), description="mosquitto executable to run")
    external_host: str = Field(default="127.0.0.1", description="Address of a system-managed Mosquitto")
    external_port: int = Field(default=1883, ge=1, le=65535, description="Port of a system-managed Mosquitto")
    external_files_dir: Path | None = Field(
        default=None, description="Where to write passwd and acl for a system Mosquitto (default <data_dir>/mosquitto)"
    )
    external_reload_command: list[str] = Field(
        default_factory=list,
        description="Command that makes a system-managed Mosquitto reread its files after the edge rewrote them, "
        'e.g. ["sudo", "systemctl", "reload", "mosquitto"]',
    )

    @model_validator(mode="after")
    def _system_broker_reloads(self) -> MqttConfig:
        if self.mode == "external" and not self.external_manage and not self.external_reload_command:
            raise ValueError("external_reload_command is required when external_manage is false")
        return self


class MqttAccountConfig(_Section):
    """An extra broker account, e.g. for a Zigbee2MQTT bridge or an integration."""

    username: str = Field(pattern=DEVICE_ID_PATTERN, description="MQTT username (and client id prefix)")
    password_hash: str = Field(
        repr=False, description="argon2 or Mosquitto $7$ hash of the password (outpost-edge hash-password)"
    )
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
    secret: str | None = Field(default=None, repr=False, description="Site HMAC secret (hex), from enrollment")
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
    """A weekly time window in the site's time zone; end before start spans midnight, end == start is 24 h.

    A window belongs to the day it starts on: on a holiday of the schedule it does not start (a window that
    started the evening before runs to its end). Times are wall-clock: in the hour skipped by a DST change a
    window starting inside it opens when the clock jumps; in the repeated hour a window is open both times.
    """

    days: list[Weekday] = Field(min_length=1, description="Weekdays the window starts on")
    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive)")


class HolidayWindow(_Section):
    """A time window that applies on holidays instead of the weekly windows."""

    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive); before start spans midnight")


class ScheduleConfig(_Section):
    """A named weekly schedule, optionally with holiday calendars that replace its windows on those dates."""

    windows: list[ScheduleWindow] = Field(default_factory=list, description="Open windows")
    holidays: list[str] = Field(
        default_factory=list, description="Ids of holiday calendars (top-level `holidays`) this schedule honours"
    )
    holiday_windows: list[HolidayWindow] = Field(
        default_factory=list, description="Windows on holidays (none = closed all holiday)"
    )


class HolidayCalendarConfig(_Section):
    """A named set of holiday dates in the site's time zone."""

    name: str = Field(default="", max_length=120, description="Human name, e.g. 'Bavaria 2026'")
    dates: list[date] = Field(default_factory=list, description="One-off holiday dates, YYYY-MM-DD")
    annual: list[str] = Field(
        default_factory=list, description="Holidays on the same date every year, MM-DD (e.g. '12-25')"
    )

    @field_validator("annual")
    @classmethod
    def _month_day(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                month, day = (int(part) for part in value.split("-"))
                date(2024, month, day)  # a leap year, so 02-29 is allowed
            except ValueError as err:
                raise ValueError(f"{value!r} is not MM-DD") from err
        return values


PassbackMode = Literal["off", "soft", "hard"]


class ZoneConfig(_Section):
    """An area of the site."""

    id: str = Field(pattern=SLUG, description="Zone id")
    name: str = Field(description="Human name")
    passback: PassbackMode = Field(
        default="off",
        description="Anti-passback for this zone: 'hard' denies re-entry without exit (and exit without "
        "entry), 'soft' grants but flags it, 'off' does not track",
    )


DeviceKind = Literal["reader", "lock", "contact", "sensor"]


class DeviceConfig(_Section):
    """A device: native MQTT (the default adapter) or served by a protocol adapter (docs/MQTT.md, "Adapters")."""

    id: str = Field(pattern=DEVICE_ID_PATTERN, description="Device id; also its MQTT username")
    kind: DeviceKind = Field(description="What the device is")
    zone: str = Field(description="Zone the device is in")
    name: str = Field(default="", description="Human name")
    password_hash: str | None = Field(
        default=None, repr=False, description="argon2 or Mosquitto $7$ hash of the device's MQTT password"
    )
    adapter: AdapterConfig = Field(default_factory=OutpostMqttConfig, description="Protocol adapter")

    @model_validator(mode="after")
    def _adapter_serves_kind(self) -> DeviceConfig:
        kinds = ADAPTER_TYPES[self.adapter.type].device_kinds
        if kinds is not None and self.kind not in kinds:
            raise ValueError(f"a {self.adapter.type} device cannot be a {self.kind} (only {', '.join(sorted(kinds))})")
        return self


class DoorReaderConfig(_Section):
    """A reader at a door and which way it lets people through."""

    device: str = Field(description="Device id of the reader")
    direction: Literal["in", "out"] = Field(
        default="in", description="'in' enters the door's zone, 'out' leaves it (used by anti-passback)"
    )


class DoorConfig(_Section):
    """A door: its lock, readers and contact, and how it is operated."""

    id: str = Field(pattern=SLUG, description="Door id")
    name: str = Field(description="Human name")
    zone: str = Field(description="Zone the door leads into")
    lock: str = Field(description="Device id of the lock")
    readers: list[DoorReaderConfig] = Field(
        default_factory=list,
        description="Readers at this door: {device, direction}; a bare device id means direction 'in'",
    )
    contact: str | None = Field(default=None, description="Device id of the door contact")
    rex: str | None = Field(
        default=None,
        description="Device id of a request-to-exit input (a contact-kind device; open = pressed); "
        "shunts the forced-open alarm like a grant",
    )
    schedule: str = Field(
        default="always", description="Schedule when badges are honoured at this door at all ('always')"
    )
    unlock_s: float = Field(default=5.0, gt=0, le=600, description="How long a granted badge unlocks")
    held_open_s: float = Field(
        default=30.0, gt=0, le=3600, description="Door-held-open alarm after the contact is open this long"
    )
    fail_mode: Literal["secure", "safe"] = Field(
        default="secure",
        description="What the lock hardware does without power/control: 'secure' stays locked, 'safe' "
        "releases (shown as 'unlocked (fail-safe)' while its controller is unreachable)",
    )
    unlock_schedule: str | None = Field(
        default=None, description="Schedule during which the door is held unlocked (free access)"
    )
    first_person_in: bool = Field(
        default=False,
        description="With unlock_schedule: hold the door unlocked only after the first authorised badge "
        "inside the window",
    )
    require_pin: bool = Field(default=False, description="Card and PIN: a badge must be followed by the PIN")
    pin_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Card-then-PIN: how long the PIN may follow the card"
    )
    two_person: bool = Field(
        default=False, description="Two-person rule: two distinct authorised badges are needed to open"
    )
    two_person_window_s: float = Field(
        default=10.0, gt=0, le=300, description="Two-person rule: the second badge must follow within this"
    )

    @field_validator("readers", mode="before")
    @classmethod
    def _bare_reader_ids(cls, value: Any) -> Any:
        # Shorthand kept from config v1: `readers = ["reader-front"]` is an entry reader.
        if isinstance(value, list):
            return [{"device": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _modes_consistent(self) -> DoorConfig:
        if self.first_person_in and self.unlock_schedule is None:
            raise ValueError("first_person_in needs an unlock_schedule")
        ids = [r.device for r in self.readers]
        if len(set(ids)) != len(ids):
            raise ValueError("readers: a reader is listed twice")
        return self

    @property
    def reader_ids(self) -> list[str]:
        """Device ids of the door's readers."""
        return [r.device for r in self.readers]

    def direction_of(self, reader_id: str) -> Literal["in", "out"]:
        """Return whether `reader_id` lets people into or out of the door's zone."""
        return next((r.direction for r in self.readers if r.device == reader_id), "in")


class AccessLevelConfig(_Section):
    """An access level: a set of doors usable during one schedule. People hold levels (in the database)."""

    name: str = Field(default="", max_length=120, description="Human name")
    doors: list[str] = Field(min_length=1, description="Door ids, or ['*'] for every door")
    schedule: str = Field(default="always", description="Schedule during which the doors open ('always')")


class AccessConfig(_Section):
    """Access control policy: levels, lockdown overrides, lock command delivery, PIN key."""

    levels: dict[str, AccessLevelConfig] = Field(
        default_factory=dict,
        description="Access levels by id; with none defined every valid credential opens every door "
        "(within the door's schedule)",
    )
    lockdown_override_roles: list[str] = Field(
        default_factory=list, description="Person roles whose valid badges still open doors in lockdown"
    )
    command_ack_timeout_s: float = Field(
        default=1.0, gt=0, le=30, description="Wait this long for a lock's ack before resending (doubles)"
    )
    command_retries: int = Field(default=3, ge=0, le=10, description="Resends before a command is a fault")
    release_grace_s: float = Field(
        default=2.0, ge=0, le=60, description="Extra time after a grant's unlock_s in which opening is not forced"
    )
    pin_key_file: Path | None = Field(
        default=None,
        description="File with the site's PIN hashing key (mode 0600; created if missing); default "
        "<data_dir>/access-pin.key",
    )
    pin_lockout_attempts: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Wrong PINs in a row (within pin_lockout_window_s) that lock a credential out at every "
        "door; 0 turns the lockout off",
    )
    pin_lockout_window_s: float = Field(
        default=300, gt=0, le=86_400, description="The wrong PINs that count are those of the last this many seconds"
    )
    pin_lockout_s: float = Field(
        default=300, gt=0, le=604_800, description="How long a PIN lockout lasts (unless an operator clears it)"
    )

    @field_validator("levels")
    @classmethod
    def _level_ids(cls, levels: dict[str, AccessLevelConfig]) -> dict[str, AccessLevelConfig]:
        for level_id in levels:
            if not re.match(SLUG, level_id):
                raise ValueError(f"level id {level_id!r} must match {SLUG}")
        return levels

    @field_validator("lockdown_override_roles")
    @classmethod
    def _role_names(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if not re.match(SLUG, role):
                raise ValueError(f"role {role!r} must match {SLUG}")
        return roles


class VisionConfig(_Section):
    """Object detection settings shared by all cameras."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Detector backend")
    plates: PlateReaderConfig = Field(default_factory=PlateReaderConfig, description="Licence plate reading")
    clips: ClipConfig = Field(default_factory=ClipConfig, description="Event clips")
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy, description="Age/disk budget of snapshots and clips"
    )


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
    holidays: dict[str, HolidayCalendarConfig] = Field(
        default_factory=dict, description="Holiday calendars by id, referenced by schedules"
    )
    access: AccessConfig = Field(default_factory=AccessConfig, description="Access control policy")

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
    def _mqtt_hashes_fit_broker(self) -> EdgeConfig:
        # Owned with MqttConfig: an external Mosquitto can check only its own $7$ hashes.
        wanted = ("mosquitto",) if self.mqtt.mode == "external" else ("argon2", "mosquitto")
        hashes = [(f"devices.{d.id}.password_hash", d.password_hash) for d in self.devices if d.password_hash]
        hashes += [(f"mqtt.accounts.{a.username}.password_hash", a.password_hash) for a in self.mqtt.accounts]
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

    def door_for_reader(self, reader_id: str) -> DoorConfig | None:
        """Return the door a reader belongs to."""
        return next((d for d in self.doors if reader_id in d.reader_ids), None)

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
