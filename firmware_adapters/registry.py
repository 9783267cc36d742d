"""Adapter types by config key, and the discriminated union of their configs (the one place both are listed)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from firmware_adapters.base import DeviceAdapter
from firmware_adapters.osdp.adapter import OsdpReaderAdapter
from firmware_adapters.osdp.config import OsdpReaderConfig
from firmware_adapters.outpost_mqtt.adapter import OutpostMqttAdapter
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig
from firmware_adapters.tasmota.adapter import TasmotaRelayAdapter
from firmware_adapters.tasmota.config import TasmotaRelayConfig
from firmware_adapters.wiegand.adapter import WiegandReaderAdapter
from firmware_adapters.wiegand.config import WiegandReaderConfig
from firmware_adapters.zigbee2mqtt.adapter import Zigbee2MqttAdapter
from firmware_adapters.zigbee2mqtt.config import Zigbee2MqttConfig

ADAPTER_TYPES: dict[str, type[DeviceAdapter[Any]]] = {
    adapter.type_key: adapter
    for adapter in (
        OutpostMqttAdapter,
        Zigbee2MqttAdapter,
        TasmotaRelayAdapter,
        OsdpReaderAdapter,
        WiegandReaderAdapter,
    )
}

AdapterConfig = Annotated[
    OutpostMqttConfig | Zigbee2MqttConfig | TasmotaRelayConfig | OsdpReaderConfig | WiegandReaderConfig,
    Field(discriminator="type"),
]
"""Per-device adapter config, chosen by its `type` key."""
