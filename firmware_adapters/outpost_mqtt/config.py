"""Config of a device that speaks Outpost's native MQTT JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from firmware_adapters.base import DeviceAdapterConfig


class OutpostMqttConfig(DeviceAdapterConfig):
    """The device connects to the site broker itself and speaks docs/MQTT.md."""

    type: Literal["outpost_mqtt"] = Field(default="outpost_mqtt", description="Adapter type key")
