"""Config of a Zigbee device reached through a Zigbee2MQTT bridge on the site broker."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from firmware_adapters.lock_commands import BridgedLockConfig

# Topic levels Outpost builds from these must be single, literal MQTT topic levels.
_LEVEL = r"^[^/+#\x00]+$"


class Zigbee2MqttConfig(BridgedLockConfig):
    """A lock, door contact or temperature/humidity sensor paired with Zigbee2MQTT.

    Devices sharing a `base_topic` (one Zigbee2MQTT instance) are served by one adapter instance.
    """

    type: Literal["zigbee2mqtt"] = Field(default="zigbee2mqtt", description="Adapter type key")
    friendly_name: str = Field(
        pattern=_LEVEL, max_length=128, description="The device's friendly_name in Zigbee2MQTT (no '/')"
    )
    base_topic: str = Field(
        default="zigbee2mqtt", pattern=_LEVEL, max_length=64, description="Zigbee2MQTT's mqtt.base_topic"
    )
    ack_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long a lock has to report the commanded lock_state before the command is acked as failed",
    )
