"""Zigbee locks, door contacts and sensors through a Zigbee2MQTT bridge on the site broker."""

from firmware_adapters.zigbee2mqtt.adapter import Zigbee2MqttAdapter
from firmware_adapters.zigbee2mqtt.codec import (
    Z2mState,
    Z2mTopic,
    confirms,
    decode_availability,
    decode_state,
    door_open,
    encode_command,
    parse_topic,
    reported_locked,
    set_topic,
    telemetry_of,
)
from firmware_adapters.zigbee2mqtt.config import Zigbee2MqttConfig

__all__ = [
    "Z2mState",
    "Z2mTopic",
    "Zigbee2MqttAdapter",
    "Zigbee2MqttConfig",
    "confirms",
    "decode_availability",
    "decode_state",
    "door_open",
    "encode_command",
    "parse_topic",
    "reported_locked",
    "set_topic",
    "telemetry_of",
]
