"""Zigbee2MQTT codec against wire messages in the shapes Zigbee2MQTT documents (fixtures/zigbee2mqtt)."""

from __future__ import annotations

import json

import pytest

from firmware_adapters.messages import PayloadError
from firmware_adapters.zigbee2mqtt.codec import (
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
from tests.firmware_adapters.captured import load_fixture

MESSAGES = load_fixture("zigbee2mqtt/messages.json")


def test_topics_are_classified() -> None:
    assert parse_topic("zigbee2mqtt", "zigbee2mqtt/bridge/state") == Z2mTopic("bridge_state", None)
    assert parse_topic("zigbee2mqtt", "zigbee2mqtt/front_lock") == Z2mTopic("state", "front_lock")
    assert parse_topic("zigbee2mqtt", "zigbee2mqtt/front_lock/availability") == Z2mTopic("availability", "front_lock")
    for ignored in (
        "zigbee2mqtt/front_lock/set",
        "zigbee2mqtt/bridge/logging",
        "zigbee2mqtt/bridge/devices",
        "other/x",
    ):
        assert parse_topic("zigbee2mqtt", ignored) is None
    assert parse_topic("z2m-annex", "z2m-annex/gate") == Z2mTopic("state", "gate")
    assert set_topic("zigbee2mqtt", "front_lock") == "zigbee2mqtt/front_lock/set"


@pytest.mark.parametrize("message", MESSAGES["bridge"] + MESSAGES["availability"], ids=lambda m: m["payload"])
def test_availability_both_shapes(message) -> None:
    assert decode_availability(message["payload"].encode()) == message["expect"]


def test_lock_sequence_acks_only_on_the_locks_own_report() -> None:
    for message in MESSAGES["lock_unlock_sequence"]:
        state = decode_state(message["payload"].encode())
        assert reported_locked(state) is message["locked"], message["note"]
        assert confirms(state, "unlock") is message["confirms_unlock"], message["note"]
        telemetry = telemetry_of(state)
        assert telemetry is not None
        assert telemetry.values["locked"] == (1.0 if message["locked"] else 0.0)
        assert telemetry.values["battery_pct"] == 84.0
    jammed = telemetry_of(decode_state(MESSAGES["lock_unlock_sequence"][-1]["payload"].encode()))
    assert jammed is not None and jammed.values["lock_jammed"] == 1.0


def test_contact_true_means_closed() -> None:
    for message in MESSAGES["contact"]:
        assert door_open(decode_state(message["payload"].encode())) is message["open"]


def test_climate_readings() -> None:
    (message,) = MESSAGES["climate"]
    telemetry = telemetry_of(decode_state(message["payload"].encode()))
    assert telemetry is not None
    assert telemetry.values == message["values"]


@pytest.mark.parametrize("message", MESSAGES["bad"], ids=lambda m: m["payload"])
def test_bad_payloads_raise_payload_error(message) -> None:
    with pytest.raises(PayloadError):
        if message["topic"].endswith("/availability"):
            decode_availability(message["payload"].encode())
        else:
            decode_state(message["payload"].encode())


def test_commands() -> None:
    assert json.loads(encode_command("unlock")) == {"state": "UNLOCK"}
    assert json.loads(encode_command("lock")) == {"state": "LOCK"}
