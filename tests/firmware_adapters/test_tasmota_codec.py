"""Tasmota / Shelly Gen1 codec against their wire messages (fixtures/tasmota) and PulseTime's encoding."""

from __future__ import annotations

import pytest

from firmware_adapters.messages import PayloadError
from firmware_adapters.tasmota.codec import (
    RelayTopic,
    decode,
    device_acl,
    locked_from_relay,
    parse_topic,
    pulse_time_seconds,
    pulse_time_value,
    relay_on_for,
    switch_messages,
)
from tests.firmware_adapters.captured import load_fixture

MESSAGES = load_fixture("tasmota/messages.json")


def relays(expected: dict[str, bool]) -> dict[int, bool]:
    return {int(k): v for k, v in expected.items()}


def test_pulse_unlock_exchange() -> None:
    exchange = MESSAGES["tasmota_pulse_unlock"]
    site = [(m["topic"], m["payload"].encode()) for m in exchange if m["dir"] == "site"]
    assert switch_messages("tasmota", "strike_front", 1, True, pulse_s=5.0) == site
    for message in (m for m in exchange if m["dir"] == "device"):
        parsed = parse_topic(message["topic"])
        assert parsed is not None
        assert decode(parsed, message["payload"].encode()).relays == relays(message["relays"])


def test_multi_relay_and_topic_parsing() -> None:
    for message in MESSAGES["tasmota_multi_relay"]:
        parsed = parse_topic(message["topic"])
        assert parsed is not None
        assert decode(parsed, message["payload"].encode()).relays == relays(message["relays"])
    assert parse_topic("stat/strikes4/POWER2") == RelayTopic("tasmota", "strikes4", "power", 2)
    assert parse_topic("stat/strikes4/POWER") == RelayTopic("tasmota", "strikes4", "power", 1)
    for ignored in ("stat/x/STATUS5", "tele/x/SENSOR", "cmnd/x/POWER1", "stat/x/y/POWER", "shellies/x/announce"):
        assert parse_topic(ignored) is None


def test_lwt_and_state() -> None:
    for message in MESSAGES["tasmota_lwt"]:
        parsed = parse_topic(message["topic"])
        assert parsed is not None
        assert decode(parsed, message["payload"].encode()).online is message["online"]
    state = MESSAGES["tasmota_state"]
    parsed = parse_topic(state["topic"])
    assert parsed is not None
    report = decode(parsed, state["payload"].encode())
    assert report.relays == relays(state["relays"])
    assert report.readings == state["readings"]


def test_shelly_gen1() -> None:
    for message in MESSAGES["shelly"]:
        parsed = parse_topic(message["topic"])
        assert parsed is not None and parsed.flavour == "shelly"
        report = decode(parsed, message["payload"].encode())
        if "online" in message:
            assert report.online is message["online"]
        else:
            assert report.relays == relays(message["relays"])
    assert switch_messages("shelly", "shelly1-98CDAC1F0E4A", 1, True) == [
        ("shellies/shelly1-98CDAC1F0E4A/relay/0/command", b"on")
    ]
    with pytest.raises(ValueError):
        switch_messages("shelly", "shelly1-98CDAC1F0E4A", 1, True, pulse_s=5)


@pytest.mark.parametrize("message", MESSAGES["bad"], ids=lambda m: f"{m['topic']}={m['payload']}")
def test_bad_payloads_raise_payload_error(message) -> None:
    parsed = parse_topic(message["topic"])
    assert parsed is not None
    with pytest.raises(PayloadError):
        decode(parsed, message["payload"].encode())


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(0.1, 1), (0.5, 5), (5, 50), (11.1, 111), (12, 112), (30, 130), (3600, 3700), (64800, 64900)],
)
def test_pulse_time_encoding(seconds, value) -> None:
    # PulseTime: 1..111 in 0.1 s steps, 112..64900 are seconds + 100.
    assert pulse_time_value(seconds) == value
    assert pulse_time_seconds(value) == pytest.approx(seconds)


def test_pulse_time_rounds_up_past_the_decisecond_range() -> None:
    assert pulse_time_value(11.5) == 112  # 12 s: never shorter than asked once in whole seconds
    with pytest.raises(ValueError):
        pulse_time_value(0)


def test_polarity() -> None:
    assert relay_on_for("unlock", active_high=True) and not relay_on_for("lock", active_high=True)
    assert not relay_on_for("unlock", active_high=False) and relay_on_for("lock", active_high=False)
    assert locked_from_relay(False, active_high=True) and locked_from_relay(True, active_high=False)


def test_device_accounts_see_only_their_own_topics() -> None:
    assert device_acl("tasmota", "strike_front") == (
        ("stat/strike_front/#", "tele/strike_front/#"),
        ("cmnd/strike_front/#",),
    )
