"""Outpost's native MQTT JSON device protocol (docs/MQTT.md)."""

from firmware_adapters.outpost_mqtt.codec import (
    Ack,
    BadgeRead,
    Command,
    ContactChange,
    DeviceEvent,
    DeviceMessage,
    Feedback,
    PayloadError,
    SiteMessage,
    Status,
    Telemetry,
    Topic,
    decode,
    encode,
    topic_for,
)
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig

__all__ = [
    "Ack",
    "BadgeRead",
    "Command",
    "ContactChange",
    "DeviceEvent",
    "DeviceMessage",
    "Feedback",
    "OutpostMqttConfig",
    "PayloadError",
    "SiteMessage",
    "Status",
    "Telemetry",
    "Topic",
    "decode",
    "encode",
    "topic_for",
]
