"""Door strikes on Wi-Fi relays: Tasmota (cmnd/stat/tele, PulseTime) and Shelly Gen1 (shellies/...)."""

from firmware_adapters.tasmota.adapter import TasmotaRelayAdapter
from firmware_adapters.tasmota.codec import (
    RelayReport,
    RelayTopic,
    decode,
    device_acl,
    locked_from_relay,
    parse_topic,
    pulse_time_seconds,
    pulse_time_value,
    relay_on_for,
    subscriptions,
    switch_messages,
)
from firmware_adapters.tasmota.config import TasmotaRelayConfig

__all__ = [
    "RelayReport",
    "RelayTopic",
    "TasmotaRelayAdapter",
    "TasmotaRelayConfig",
    "decode",
    "device_acl",
    "locked_from_relay",
    "parse_topic",
    "pulse_time_seconds",
    "pulse_time_value",
    "relay_on_for",
    "subscriptions",
    "switch_messages",
]
