"""OSDP codec against events captured from libosdp itself (fixtures/osdp/cp_events.json: a libosdp
ControlPanel's events for what a libosdp PeripheralDevice sent over a pty)."""

from __future__ import annotations

import osdp  # the libosdp package
import pytest

from firmware_adapters.messages import BadgeRead, PayloadError, Status, Telemetry
from firmware_adapters.osdp import codec
from firmware_adapters.wiegand.codec import ParityError
from tests.firmware_adapters.captured import load_fixture


def captured() -> list[dict[str, object]]:
    events = load_fixture("osdp/cp_events.json")["events"]
    return [{k: bytes.fromhex(v) if k in ("data", "report") else v for k, v in e.items()} for e in events]


def test_codes_match_the_installed_libosdp() -> None:
    assert (codec.EVENT_CARDREAD, codec.EVENT_KEYPRESS, codec.EVENT_STATUS, codec.EVENT_NOTIFICATION) == (
        osdp.Event.CardRead,
        osdp.Event.KeyPress,
        osdp.Event.Status,
        osdp.Event.Notification,
    )
    assert (codec.CARD_FORMAT_RAW, codec.CARD_FORMAT_WIEGAND, codec.CARD_FORMAT_ASCII) == (
        osdp.CardFormat.Unspecified,
        osdp.CardFormat.Wiegand,
        osdp.CardFormat.ASCII,
    )
    assert codec.STATUS_REPORT_LOCAL == osdp.StatusReportType.Local
    assert codec.NOTIFICATION_PD_STATUS == osdp.EventNotification.PeripheralDeviceStatus
    assert (codec.CMD_LED, codec.CMD_BUZZER) == (osdp.Command.LED, osdp.Command.Buzzer)
    assert (codec.LED_RED, codec.LED_GREEN, codec.LED_AMBER, codec.LED_BLACK) == (
        osdp.CommandLEDColor.Red,
        osdp.CommandLEDColor.Green,
        osdp.CommandLEDColor.Amber,
        osdp.CommandLEDColor.Black,
    )


def test_captured_events_map_to_messages() -> None:
    online, card, bad_parity, raw_uid, keypress, tamper, _sc, offline = captured()
    assert codec.decode_event(online) == Status(state="online")
    message = codec.decode_event(card)
    assert isinstance(message, BadgeRead) and message.credential == "18:12345"
    with pytest.raises(ParityError):
        codec.decode_event(bad_parity)
    message = codec.decode_event(raw_uid)
    assert isinstance(message, BadgeRead) and message.credential == "04A1B2C3"
    assert codec.decode_event(keypress) is None
    message = codec.decode_event(tamper)
    assert isinstance(message, Telemetry) and message.values == {"tamper": 1.0, "power_fail": 0.0}
    assert codec.decode_event(offline) == Status(state="offline")


def test_hex_mode_keeps_wiegand_bits_raw() -> None:
    card = captured()[1]
    assert codec.card_credential(card, "hex") == "09181CC0/26"


@pytest.mark.parametrize(
    "event",
    [
        {"event": "card"},
        {"event": 1, "format": 1, "length": 26, "data": "09181cc0"},
        {"event": 1, "format": 1, "length": 40, "data": b"\x09\x18"},
        {"event": 1, "format": 7, "length": 8, "data": b"\x01"},
        {"event": 4, "type": 2, "report": b"\x01"},
    ],
)
def test_malformed_events_raise_payload_error(event) -> None:
    with pytest.raises(PayloadError):
        codec.decode_event(event)


def test_feedback_commands() -> None:
    led, buzzer = codec.feedback_commands(True, reader_no=0)
    assert led["on_color"] == codec.LED_GREEN and led["temporary"] is True
    assert buzzer["rep_count"] == 1
    led, buzzer = codec.feedback_commands(False)
    assert led["on_color"] == codec.LED_RED and led["off_count"] > 0
    assert buzzer["rep_count"] == 2
    led, buzzer = codec.feedback_commands(False, reason="pin_required")
    assert led["on_color"] == codec.LED_AMBER
    assert buzzer["rep_count"] == 1
