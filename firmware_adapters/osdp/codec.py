"""Pure mapping between libosdp's event/command dicts and Outpost's typed device messages.

libosdp (the `libosdp` PyPI package, module `osdp`) hands the Control Panel each reply of a Peripheral Device
as a dict, e.g. a card read ``{"event": 1, "reader_no": 0, "format": 1, "direction": 0, "length": 26,
"data": b"..."}`` (raw Wiegand bits, MSB first), and takes commands as dicts. The integer codes below are
libosdp's (checked against the installed `osdp` module by the tests); this module does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from firmware_adapters.messages import BadgeRead, DeviceMessage, PayloadError, Status, Telemetry
from firmware_adapters.wiegand.codec import bits_from_bytes, credential_from_bits, raw_credential

EVENT_CARDREAD = 1
EVENT_KEYPRESS = 2
EVENT_STATUS = 4
EVENT_NOTIFICATION = 5
CARD_FORMAT_RAW = 0
CARD_FORMAT_WIEGAND = 1
CARD_FORMAT_ASCII = 2
STATUS_REPORT_LOCAL = 2
NOTIFICATION_PD_STATUS = 2
CMD_LED = 2
CMD_BUZZER = 3
LED_BLACK = 0
LED_RED = 1
LED_GREEN = 2
LED_AMBER = 3
LED_TEMPORARY_SET = 2
"""LED temporary control code: set the temporary state and start its timer."""
BUZZER_DEFAULT_TONE = 2

CredentialMode = Literal["auto", "hex"]


def _int(event: Mapping[str, object], key: str) -> int:
    value = event.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"OSDP event: {key} is {value!r}, not an integer")
    return value


def _bytes(event: Mapping[str, object], key: str) -> bytes:
    value = event.get(key)
    if not isinstance(value, bytes):
        raise PayloadError(f"OSDP event: {key} is {type(value).__name__}, not bytes")
    return value


def card_credential(event: Mapping[str, object], mode: CredentialMode = "auto") -> str:
    """Credential string of a card read (docs/MQTT.md, "Credential strings").

    Raw Wiegand data of a known format becomes ``facility:card`` (a parity error raises `ParityError`); other
    raw data becomes hex; ASCII data is taken as is.
    """
    fmt = _int(event, "format")
    data = _bytes(event, "data")
    if fmt == CARD_FORMAT_ASCII:
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError as err:
            raise PayloadError("OSDP card read: ASCII card data is not ASCII") from err
        if not text:
            raise PayloadError("OSDP card read: empty ASCII card data")
        return text
    if fmt not in (CARD_FORMAT_RAW, CARD_FORMAT_WIEGAND):
        raise PayloadError(f"OSDP card read: unknown card format {fmt}")
    try:
        bits = bits_from_bytes(data, _int(event, "length"))
    except ValueError as err:
        raise PayloadError(f"OSDP card read: {err}") from err
    if fmt == CARD_FORMAT_WIEGAND and mode == "auto":
        return credential_from_bits(bits, accept_raw=True)
    return raw_credential(bits)


def decode_event(event: Mapping[str, object], mode: CredentialMode = "auto") -> DeviceMessage | None:
    """Map one libosdp event to an Outpost message; None for events Outpost does not use (keypad, ...)."""
    kind = _int(event, "event")
    if kind == EVENT_CARDREAD:
        return BadgeRead(credential=card_credential(event, mode))
    if kind == EVENT_NOTIFICATION and _int(event, "type") == NOTIFICATION_PD_STATUS:
        return Status(state="online" if _int(event, "arg0") else "offline")
    if kind == EVENT_STATUS and _int(event, "type") == STATUS_REPORT_LOCAL:
        # osdp_LSTATR: byte 0 tamper (0 normal, 1 tamper), byte 1 power (0 normal, 1 failure).
        report = _bytes(event, "report")
        if len(report) < 2:
            raise PayloadError(f"OSDP local status: {len(report)} bytes, expected 2")
        return Telemetry(values={"tamper": float(report[0] != 0), "power_fail": float(report[1] != 0)})
    return None


WAITING_REASONS = frozenset({"pin_required", "two_person_pending"})
"""Denials that ask for something more (a PIN, a second person) rather than refuse."""


def feedback_commands(granted: bool, reader_no: int = 0, reason: str = "") -> list[dict[str, int | bool]]:
    """LED and buzzer commands for a decision (2 s): green + one beep; amber blinking + one short beep when
    more is needed (PIN, second person); flashing red + two beeps when denied. LED/beep times are in 100 ms."""
    if granted:
        color, on, off, beep_on, beep_off, beeps = LED_GREEN, 20, 0, 2, 0, 1
    elif reason in WAITING_REASONS:
        color, on, off, beep_on, beep_off, beeps = LED_AMBER, 5, 5, 1, 0, 1
    else:
        color, on, off, beep_on, beep_off, beeps = LED_RED, 2, 2, 1, 1, 2
    led: dict[str, int | bool] = {
        "command": CMD_LED,
        "reader": reader_no,
        "led_number": 0,
        "temporary": True,
        "control_code": LED_TEMPORARY_SET,
        "on_color": color,
        "off_color": LED_BLACK,
        "on_count": on,
        "off_count": off,
        "timer_count": 20,
    }
    buzzer: dict[str, int | bool] = {
        "command": CMD_BUZZER,
        "reader": reader_no,
        "control_code": BUZZER_DEFAULT_TONE,
        "on_count": beep_on,
        "off_count": beep_off,
        "rep_count": beeps,
    }
    return [led, buzzer]
