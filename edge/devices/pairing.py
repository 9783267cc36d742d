"""Pair a device with the box: create its MQTT account and say exactly what to type into its firmware.

Kinds: `native` (Outpost's MQTT JSON contract, docs/MQTT.md), `zigbee2mqtt` (the bridge's account), `tasmota` and
`shelly` (Gen1) relays driving a door strike. The account goes into the edge config (argon2 hash; a Mosquitto
hash when the site runs an external Mosquitto, which cannot check argon2); the password exists only in the
returned settings, shown once. Used by the installer (`outpost-provision pair-device`, `provisioning.pairing`)
and by the console's Devices page (`edge.web.pairing_view`), both through `pair_in_config`.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.broker.passwords import hash_password
from edge.config.file_edit import edit_config_file
from edge.config.root import EdgeConfig
from firmware_adapters.messages import DEVICE_ID_PATTERN

PairKind = Literal["native", "zigbee2mqtt", "tasmota", "shelly"]
DeviceRole = Literal["reader", "lock", "contact", "sensor"]
TOPIC_LEVEL = r"^[A-Za-z0-9_-]{1,64}$"


class PairingError(Exception):
    """The device cannot be paired as asked; the message names the fix."""


class PairArgs(BaseModel):
    """What the installer asked for (`pair-device` / `add-door`)."""

    model_config = ConfigDict(extra="forbid")

    kind: PairKind = Field(description="Firmware family of the device")
    id: str = Field(pattern=DEVICE_ID_PATTERN, description="Device id (also its MQTT user and client id)")
    role: DeviceRole = Field(default="lock", description="What a native device is (tasmota/shelly: lock)")
    zone: str = Field(default="main", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Zone of the device")
    name: str = Field(default="", max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$", description="Human name")
    topic: str | None = Field(
        default=None, pattern=TOPIC_LEVEL, description="Tasmota Topic / Shelly device id / Zigbee2MQTT base topic"
    )
    relay: int = Field(default=1, ge=1, le=8, description="Relay channel of a Tasmota or Shelly")
    broker_host: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$", description="Address devices use"
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> PairArgs:
        if self.kind in ("tasmota", "shelly") and self.role != "lock":
            raise ValueError(f"a {self.kind} relay drives a door strike: its role is lock, not {self.role}")
        if self.kind == "shelly" and self.topic is None:
            raise ValueError("a Shelly needs --topic: its device id as shown in its web page (e.g. shelly1-ABC123)")
        return self


class DeviceSettings(BaseModel):
    """Exactly what to enter in the device's firmware; also the content of the QR code (as JSON)."""

    kind: PairKind = Field(description="Firmware family")
    device_id: str = Field(description="Outpost device id")
    host: str = Field(description="Broker host (this box)")
    port: int = Field(description="Broker port")
    username: str = Field(description="MQTT user")
    password: str = Field(description="MQTT password (shown once; only its hash is stored)")
    client_id: str = Field(description="MQTT client id")
    protocol: str = Field(default="MQTT 3.1.1", description="MQTT version to select")
    publish: list[str] = Field(description="Topics the device may publish to")
    subscribe: list[str] = Field(description="Topics the device may subscribe to")
    firmware: list[str] = Field(description="Lines to type into the firmware, in its own words")


def lan_address() -> str:
    """This box's address on its LAN (the source address of its default route), else its hostname."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent, only the route is looked up
            address: str = probe.getsockname()[0]
            return address
        except OSError:
            return socket.gethostname()


def new_password() -> str:
    """Return a random device password (24 URL-safe characters, about 144 bits; easy to type on a relay)."""
    return secrets.token_urlsafe(18)


def _broker_endpoint(data: dict[str, Any], host: str | None) -> tuple[str, int, Literal["argon2", "mosquitto"]]:
    mqtt = data.get("mqtt", {})
    external = mqtt.get("mode") == "external"
    port = int(mqtt.get("external_port" if external and not mqtt.get("external_manage", True) else "port", 1883))
    if port == 0:
        raise PairingError("mqtt.port is 0 (a random port): set a fixed mqtt.port in the config so devices can find it")
    listen = str(mqtt.get("host", "0.0.0.0"))
    default_host = lan_address() if listen in ("0.0.0.0", "::", "") else listen
    return host or default_host, port, "mosquitto" if external else "argon2"


def ensure_zone(data: dict[str, Any], zone: str) -> bool:
    """Add zone `zone` (named after its id) unless the config has it; return whether it was added."""
    zones: list[dict[str, Any]] = data.setdefault("zones", [])
    if any(z.get("id") == zone for z in zones):
        return False
    zones.append({"id": zone, "name": zone.replace("-", " ").replace("_", " ").capitalize()})
    return True


def _taken(data: dict[str, Any], username: str) -> bool:
    names = {d.get("id") for d in data.get("devices", [])} | {
        a.get("username") for a in data.get("mqtt", {}).get("accounts", [])
    }
    return username in names


def device_entry(args: PairArgs, password_hash: str) -> dict[str, Any]:
    """The `[[devices]]` entry of a native, Tasmota or Shelly device."""
    entry: dict[str, Any] = {"id": args.id, "kind": args.role, "zone": args.zone, "password_hash": password_hash}
    if args.name:
        entry["name"] = args.name
    if args.kind == "tasmota":
        entry["adapter"] = {"type": "tasmota", "topic": args.topic or args.id.replace("-", "_"), "relay": args.relay}
    elif args.kind == "shelly":
        entry["adapter"] = {
            "type": "tasmota",
            "flavour": "shelly",
            "topic": args.topic,
            "relay": args.relay,
            "pulse": False,
        }
    return entry


def settings_for(args: PairArgs, host: str, port: int, password: str) -> DeviceSettings:
    """The firmware settings of a paired device."""
    user = args.id
    common: dict[str, Any] = {"kind": args.kind, "device_id": args.id, "host": host, "port": port, "username": user}
    common |= {"password": password, "client_id": user}
    if args.kind == "native":
        base = f"outpost/{args.id}"
        return DeviceSettings(
            **common,
            publish=[f"{base}/status", f"{base}/telemetry", f"{base}/event", f"{base}/ack"],
            subscribe=[f"{base}/command", f"{base}/receipt"],
            firmware=[
                f"Broker {host}:{port}, MQTT 3.1.1, user {user}, client id {user}",
                f'Last Will: {base}/status = {{"state":"offline"}} (QoS 1, retained)',
                "Payloads: docs/MQTT.md (Outpost MQTT topic contract v1)",
            ],
        )
    if args.kind == "zigbee2mqtt":
        base = args.topic or "zigbee2mqtt"
        return DeviceSettings(
            **common,
            publish=[f"{base}/#"],
            subscribe=[f"{base}/#"],
            firmware=[
                "configuration.yaml:",
                "mqtt:",
                f"  base_topic: {base}",
                f"  server: mqtt://{host}:{port}",
                f"  user: {user}",
                f'  password: "{password}"',
                f"  client_id: {user}",
                "  version: 4",
                "availability:",
                "  enabled: true",
            ],
        )
    if args.kind == "tasmota":
        topic = args.topic or args.id.replace("-", "_")
        return DeviceSettings(
            **common,
            publish=[f"stat/{topic}/#", f"tele/{topic}/#"],
            subscribe=[f"cmnd/{topic}/#"],
            firmware=[
                "Tasmota console:",
                f"Backlog MqttHost {host}; MqttPort {port}; MqttUser {user}; MqttPassword {password}; "
                f"MqttClient {user}; Topic {topic}",
            ],
        )
    shelly = args.topic or ""
    return DeviceSettings(
        **common,
        publish=[f"shellies/{shelly}/#", "shellies/announce"],
        subscribe=[f"shellies/{shelly}/#", "shellies/command"],
        firmware=[
            "Shelly web page > Internet & Security > Advanced - Developer settings: Enable action execution via MQTT",
            f"Username {user}, Password {password}, ID {user}, Server {host}:{port}",
            f"Custom MQTT prefix: shellies/{shelly} (the default)",
        ],
    )


def pair_in_config(data: dict[str, Any], args: PairArgs, host: str | None) -> tuple[DeviceSettings, bool]:
    """Add the device's account to the config dict; return its settings and whether its zone was created."""
    if _taken(data, args.id):
        raise PairingError(
            f"{args.id!r} already has an MQTT account in the config; pick another --id "
            "(or remove the old entry to pair the device again with a new password)"
        )
    broker_host, port, scheme = _broker_endpoint(data, host)
    password = new_password()
    password_hash = hash_password(password, scheme)
    zone_added = False
    if args.kind == "zigbee2mqtt":
        base = args.topic or "zigbee2mqtt"
        accounts = data.setdefault("mqtt", {}).setdefault("accounts", [])
        accounts.append(
            {"username": args.id, "password_hash": password_hash, "publish": [f"{base}/#"], "subscribe": [f"{base}/#"]}
        )
    else:
        zone_added = ensure_zone(data, args.zone)
        data.setdefault("devices", []).append(device_entry(args, password_hash))
    return settings_for(args, broker_host, port, password), zone_added


def pair_device_in_file(config_path: Path, args: PairArgs) -> tuple[DeviceSettings, bool, EdgeConfig]:
    """Create the device's account in the running box's config file (validated, atomic, mode 0600; blocking: use
    a thread); return its settings, whether its zone was added, and the new config."""
    (settings, zone_added), config = edit_config_file(
        config_path, lambda data: pair_in_config(data, args, args.broker_host)
    )
    return settings, zone_added, config
