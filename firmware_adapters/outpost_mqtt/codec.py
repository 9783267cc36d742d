"""Pure mapping between the native protocol's MQTT topics/payloads and the typed device messages (`messages`).

Topic layout: ``outpost/<device_id>/<channel>``; channels are listed in `CHANNELS`.
Devices publish status/telemetry/event/ack and subscribe to command/receipt.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from firmware_adapters.messages import (
    DEVICE_ID_PATTERN,
    Ack,
    BadgeRead,
    Command,
    ContactChange,
    DeviceEvent,
    DeviceMessage,
    PayloadError,
    Status,
    Telemetry,
)

ROOT = "outpost"
CHANNELS = ("status", "telemetry", "event", "command", "ack", "receipt")
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)

Channel = Literal["status", "telemetry", "event", "command", "ack", "receipt"]
DEVICE_PUBLISHES: tuple[Channel, ...] = ("status", "telemetry", "event", "ack")
DEVICE_SUBSCRIBES: tuple[Channel, ...] = ("command", "receipt")

_EVENT_ADAPTER: TypeAdapter[BadgeRead | ContactChange] = TypeAdapter(DeviceEvent)


class Topic(BaseModel):
    """A parsed device topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: str
    channel: Channel


def topic_for(device_id: str, channel: Channel) -> str:
    """Return the topic of `device_id`'s `channel`."""
    if not _DEVICE_ID_RE.match(device_id):
        raise PayloadError(f"invalid device id {device_id!r}")
    return f"{ROOT}/{device_id}/{channel}"


def parse_topic(topic: str) -> Topic:
    """Split a device topic into device id and channel."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != ROOT or parts[2] not in CHANNELS or not _DEVICE_ID_RE.match(parts[1]):
        raise PayloadError(f"topic {topic!r} is not outpost/<device_id>/<channel>")
    return Topic(device_id=parts[1], channel=parts[2])  # type: ignore[arg-type]


_CHANNEL_MODELS: dict[str, Any] = {
    "status": Status,
    "telemetry": Telemetry,
    "command": Command,
    "ack": Ack,
    "receipt": Ack,
}


def decode(topic: str, payload: bytes) -> tuple[Topic, DeviceMessage]:
    """Validate a message received on `topic`; raise PayloadError with the reason."""
    parsed = parse_topic(topic)
    try:
        if parsed.channel == "event":
            return parsed, _EVENT_ADAPTER.validate_json(payload)
        model = _CHANNEL_MODELS[parsed.channel]
        return parsed, model.model_validate_json(payload)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PayloadError(f"{topic}: {where}: {first['msg']}") from err


def encode(message: DeviceMessage) -> bytes:
    """Serialise a message to its JSON payload."""
    return message.model_dump_json(exclude_none=True).encode()
