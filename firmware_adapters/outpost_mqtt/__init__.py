"""Outpost's native MQTT JSON device protocol (docs/MQTT.md); the messages it carries are in `messages`."""

from firmware_adapters.outpost_mqtt.codec import Topic, decode, encode, parse_topic, topic_for
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig

__all__ = ["OutpostMqttConfig", "Topic", "decode", "encode", "parse_topic", "topic_for"]
