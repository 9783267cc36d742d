"""Pure mapping between Tasmota / Shelly Gen1 relay topics and payloads and Outpost's lock semantics.

Tasmota (default FullTopic ``%prefix%/%topic%/``):
- ``cmnd/<topic>/POWER<n>`` ``ON``/``OFF`` and ``cmnd/<topic>/PulseTime<n>`` (1..111 = 0.1 s steps,
  112..64900 = seconds + 100, 0 = off: the relay switches itself off that long after ON);
- ``stat/<topic>/POWER[<n>]`` ``ON``/``OFF`` and ``stat/<topic>/RESULT`` ``{"POWER1":"ON"}`` after each change
  (``POWER`` without a number when the device has one relay);
- ``tele/<topic>/LWT`` ``Online``/``Offline`` (retained Last Will) and ``tele/<topic>/STATE`` every TelePeriod.
Shelly Gen1: ``shellies/<id>/relay/<i>/command`` ``on``/``off``, state on ``shellies/<id>/relay/<i>``
(``on``/``off``/``overpower``), ``shellies/<id>/online`` ``true``/``false`` (retained Last Will); relay i = n - 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Literal

from firmware_adapters.lock_commands import LockAction
from firmware_adapters.messages import PayloadError

Flavour = Literal["tasmota", "shelly"]
ReportKind = Literal["power", "result", "lwt", "state", "online"]

PULSE_MAX_S = 64_800.0


@dataclass(frozen=True)
class RelayTopic:
    """A topic a relay device publishes on, classified."""

    flavour: Flavour
    device_topic: str
    kind: ReportKind
    relay: int | None = None
    """1-based relay number for `power` reports."""


@dataclass(frozen=True)
class RelayReport:
    """What one message says: relay states (1-based), link state, Wi-Fi and uptime readings."""

    relays: dict[int, bool] = field(default_factory=dict)
    online: bool | None = None
    readings: dict[str, float] = field(default_factory=dict)


def parse_topic(topic: str) -> RelayTopic | None:
    """Classify a Tasmota or Shelly topic; None for topics the adapter does not read."""
    parts = topic.split("/")
    if parts[0] == "shellies" and len(parts) >= 3:
        device = parts[1]
        if parts[2:] == ["online"]:
            return RelayTopic("shelly", device, "online")
        if len(parts) == 4 and parts[2] == "relay" and parts[3].isdigit():
            return RelayTopic("shelly", device, "power", int(parts[3]) + 1)
        return None
    if len(parts) != 3:
        return None
    prefix, device, suffix = parts
    if prefix == "stat":
        if suffix == "RESULT":
            return RelayTopic("tasmota", device, "result")
        relay = _power_index(suffix)
        return RelayTopic("tasmota", device, "power", relay) if relay is not None else None
    if prefix == "tele" and suffix in ("LWT", "STATE"):
        return RelayTopic("tasmota", device, "lwt" if suffix == "LWT" else "state")
    return None


def _power_index(key: str) -> int | None:
    """`POWER` -> 1, `POWER3` -> 3, anything else -> None."""
    if key == "POWER":
        return 1
    if key.startswith("POWER") and key[5:].isdigit() and 1 <= int(key[5:]) <= 32:
        return int(key[5:])
    return None


def _on_off(value: object, where: str) -> bool:
    if isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return value.upper() == "ON"
    raise PayloadError(f"{where}: expected ON or OFF, got {value!r}")


def _json_object(payload: bytes, where: str) -> dict[str, object]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        raise PayloadError(f"{where}: not JSON: {payload[:60]!r}") from err
    if not isinstance(data, dict):
        raise PayloadError(f"{where}: not a JSON object: {payload[:60]!r}")
    return data


def _relays_in(data: dict[str, object], where: str) -> dict[int, bool]:
    relays = {}
    for key, value in data.items():
        relay = _power_index(key)
        if relay is not None:
            relays[relay] = _on_off(value, f"{where}.{key}")
    return relays


def decode(parsed: RelayTopic, payload: bytes) -> RelayReport:
    """Decode one message; raise PayloadError if it does not have the documented shape."""
    text = payload.decode("utf-8", "replace").strip()
    where = f"{parsed.device_topic}/{parsed.kind}"
    match parsed.kind:
        case "power" if parsed.flavour == "shelly":
            if text not in ("on", "off", "overpower"):
                raise PayloadError(f"{where}: expected on, off or overpower, got {text[:40]!r}")
            assert parsed.relay is not None
            return RelayReport(relays={parsed.relay: text == "on"})
        case "power":
            assert parsed.relay is not None
            return RelayReport(relays={parsed.relay: _on_off(text, where)})
        case "result":
            return RelayReport(relays=_relays_in(_json_object(payload, where), where))
        case "lwt" | "online":
            words = ("Online", "Offline") if parsed.kind == "lwt" else ("true", "false")
            if text not in words:
                raise PayloadError(f"{where}: expected {' or '.join(words)}, got {text[:40]!r}")
            return RelayReport(online=text == words[0])
        case "state":
            data = _json_object(payload, where)
            readings: dict[str, float] = {}
            wifi = data.get("Wifi")
            if isinstance(wifi, dict):
                for key, name in (("RSSI", "wifi_rssi_pct"), ("Signal", "wifi_signal_dbm")):
                    value = wifi.get(key)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        readings[name] = float(value)
            uptime = data.get("UptimeSec")
            if isinstance(uptime, int | float) and not isinstance(uptime, bool):
                readings["uptime_s"] = float(uptime)
            return RelayReport(relays=_relays_in(data, where), readings=readings)
    raise PayloadError(f"{where}: not a relay report")  # pragma: no cover - the match is exhaustive


def pulse_time_value(seconds: float) -> int:
    """Encode a pulse length for PulseTime: 0.1 s steps up to 11.1 s, whole seconds + 100 above."""
    if not 0 < seconds <= PULSE_MAX_S:
        raise ValueError(f"pulse of {seconds}s is outside 0..{PULSE_MAX_S:g}s")
    if seconds < 11.15:
        return max(1, round(seconds * 10))
    return min(64_900, max(112, math.ceil(seconds) + 100))


def pulse_time_seconds(value: int) -> float:
    """Decode a PulseTime value to seconds (0 = no pulse)."""
    return value / 10 if value <= 111 else float(value - 100)


def relay_on_for(action: LockAction, active_high: bool) -> bool:
    """The relay state that carries out `action` (active high: ON releases the strike)."""
    return (action == "unlock") == active_high


def locked_from_relay(on: bool, active_high: bool) -> bool:
    """Whether the door is locked when the relay is `on`."""
    return on != active_high


def switch_messages(
    flavour: Flavour, device_topic: str, relay: int, on: bool, *, pulse_s: float | None = None
) -> list[tuple[str, bytes]]:
    """The (topic, payload) messages that switch `relay` on or off, PulseTime first when pulsing (Tasmota)."""
    if flavour == "shelly":
        if pulse_s is not None:
            raise ValueError("Shelly Gen1 has no pulse over MQTT")
        return [(f"shellies/{device_topic}/relay/{relay - 1}/command", b"on" if on else b"off")]
    messages = []
    if pulse_s is not None:
        value = pulse_time_value(pulse_s) if pulse_s > 0 else 0
        messages.append((f"cmnd/{device_topic}/PulseTime{relay}", str(value).encode()))
    messages.append((f"cmnd/{device_topic}/POWER{relay}", b"ON" if on else b"OFF"))
    return messages


def subscriptions(flavour: Flavour, device_topic: str) -> tuple[str, ...]:
    """What the site reads of one device."""
    if flavour == "shelly":
        return (f"shellies/{device_topic}/relay/+", f"shellies/{device_topic}/online")
    return (f"stat/{device_topic}/+", f"tele/{device_topic}/+")


def command_filters(flavour: Flavour, device_topic: str) -> tuple[str, ...]:
    """Where the site publishes commands to one device."""
    if flavour == "shelly":
        return (f"shellies/{device_topic}/relay/+/command",)
    return (f"cmnd/{device_topic}/+",)


def device_acl(flavour: Flavour, device_topic: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(publish, subscribe) filters of the device's own broker account."""
    if flavour == "shelly":
        return (f"shellies/{device_topic}/#", "shellies/announce"), (f"shellies/{device_topic}/#", "shellies/command")
    return (f"stat/{device_topic}/#", f"tele/{device_topic}/#"), (f"cmnd/{device_topic}/#",)
