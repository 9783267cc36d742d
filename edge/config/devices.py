"""Devices and the adapter that serves each."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.config.base import Section
from firmware_adapters.messages import DEVICE_ID_PATTERN
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig
from firmware_adapters.registry import ADAPTER_TYPES, AdapterConfig

DeviceKind = Literal["reader", "lock", "contact", "sensor"]


class DeviceConfig(Section):
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
