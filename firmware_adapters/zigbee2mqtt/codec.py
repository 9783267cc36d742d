"""Pure mapping between Zigbee2MQTT's topics/payloads and Outpost's typed device messages.

Zigbee2MQTT (base topic ``zigbee2mqtt`` by default) publishes:
- ``<base>/<friendly_name>``: the device's whole cached state as a JSON object, e.g. a lock
  ``{"state":"LOCK","lock_state":"locked","battery":84}``, a contact ``{"contact":true}`` (true = CLOSED), a sensor
  ``{"temperature":21.5,"humidity":40,"battery":90,"linkquality":120}``;
- ``<base>/<friendly_name>/availability``: ``{"state":"online"}`` (or legacy plain ``online``/``offline``);
- ``<base>/bridge/state``: the bridge's own availability, same two shapes (retained; its Last Will is offline).
Commands go to ``<base>/<friendly_name>/set``, e.g. ``{"state":"UNLOCK"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from firmware_adapters.lock_commands import LockAction
from firmware_adapters.messages import PayloadError, Telemetry

TopicKind = Literal["state", "availability", "bridge_state"]
Availability = Literal["online", "offline"]


@dataclass(frozen=True)
class Z2mTopic:
    """A topic Zigbee2MQTT publishes on, classified."""

    kind: TopicKind
    friendly_name: str | None


def parse_topic(base_topic: str, topic: str) -> Z2mTopic | None:
    """Classify a topic under `base_topic`; None for topics the adapter does not read (set/get, bridge logs)."""
    prefix = base_topic + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if parts[0] == "bridge":
        return Z2mTopic("bridge_state", None) if parts[1:] == ["state"] else None
    if len(parts) == 1 and parts[0]:
        return Z2mTopic("state", parts[0])
    if len(parts) == 2 and parts[1] == "availability":
        return Z2mTopic("availability", parts[0])
    return None


def set_topic(base_topic: str, friendly_name: str) -> str:
    """Return the topic that commands a device."""
    return f"{base_topic}/{friendly_name}/set"


class Z2mState(BaseModel):
    """The fields of a device state Outpost uses; Zigbee2MQTT adds many more (ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    state: str | None = None
    lock_state: str | None = None
    contact: bool | None = None
    temperature: float | None = None
    humidity: float | None = None
    battery: float | None = None
    linkquality: float | None = None
    tamper: bool | None = None
    battery_low: bool | None = None


def _json(payload: bytes) -> object:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        raise PayloadError(f"not JSON: {payload[:60]!r}") from err


def decode_state(payload: bytes) -> Z2mState:
    """Validate a device state payload (a JSON object); raise PayloadError."""
    data = _json(payload)
    if not isinstance(data, dict):
        raise PayloadError(f"state is not a JSON object: {payload[:60]!r}")
    # Zigbee2MQTT sends integers for whole numbers; strict mode would refuse them for float fields.
    data = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in data.items()}
    try:
        return Z2mState.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise PayloadError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from err


def decode_availability(payload: bytes) -> Availability:
    """Decode an availability or bridge state payload: ``{"state":"online"}`` or plain ``online``."""
    text = payload.strip()
    if text in (b"online", b"offline"):
        return "online" if text == b"online" else "offline"
    data = _json(payload)
    state = data.get("state") if isinstance(data, dict) else None
    if state not in ("online", "offline"):
        raise PayloadError(f"availability is neither online nor offline: {payload[:60]!r}")
    return "online" if state == "online" else "offline"


_LOCKED = {"locked": True, "unlocked": False, "not_fully_locked": False}
_STATE_LOCKED = {"LOCK": True, "UNLOCK": False}


def reported_locked(state: Z2mState) -> bool | None:
    """Whether the lock reports itself locked: `lock_state` (what the bolt did) first, else `state`."""
    if state.lock_state is not None:
        return _LOCKED.get(state.lock_state)
    if state.state is not None:
        return _STATE_LOCKED.get(state.state)
    return None


def confirms(state: Z2mState, action: LockAction) -> bool:
    """True if this report shows the lock where `action` put it.

    Only `lock_state` counts when present: after a /set Zigbee2MQTT publishes its optimistic `state` at once,
    with the cached (old) `lock_state`; the lock's own report comes later.
    """
    locked = reported_locked(state)
    return locked is not None and locked == (action == "lock")


def telemetry_of(state: Z2mState) -> Telemetry | None:
    """Map the readings of a state to Outpost telemetry (None if it carries none)."""
    values: dict[str, float] = {}
    locked = reported_locked(state)
    if locked is not None:
        values["locked"] = 1.0 if locked else 0.0
    if state.lock_state in _LOCKED:
        # Reported with every lock_state, so the site sees a jam (bolt not fully thrown) end as well as begin.
        values["lock_jammed"] = 1.0 if state.lock_state == "not_fully_locked" else 0.0
    if state.temperature is not None:
        values["temperature_c"] = state.temperature
    if state.humidity is not None:
        values["humidity_pct"] = state.humidity
    if state.battery is not None:
        values["battery_pct"] = state.battery
    if state.battery_low is not None:
        values["battery_low"] = 1.0 if state.battery_low else 0.0
    if state.linkquality is not None:
        values["linkquality"] = state.linkquality
    if state.tamper is not None:
        values["tamper"] = 1.0 if state.tamper else 0.0
    return Telemetry(values=values) if values else None


def door_open(state: Z2mState) -> bool | None:
    """Whether a contact sensor reports the door open (Zigbee2MQTT's `contact: true` means closed)."""
    return None if state.contact is None else not state.contact


def encode_command(action: LockAction) -> bytes:
    """Return the /set payload that locks or unlocks."""
    return json.dumps({"state": "LOCK" if action == "lock" else "UNLOCK"}).encode()
