"""Adapter types by config key, and the discriminated union of their configs."""

from __future__ import annotations

from firmware_adapters.base import DeviceAdapter
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig

ADAPTER_TYPES: dict[str, type[DeviceAdapter]] = {
    OutpostMqttAdapter.type_key: OutpostMqttAdapter,
}

# Per-device adapter config. With a second protocol this becomes
# Annotated[OutpostMqttConfig | OtherConfig, Field(discriminator="type")].
AdapterConfig = OutpostMqttConfig
