"""OSDP readers on RS-485 through libosdp; the box is the Control Panel."""

from firmware_adapters.osdp.adapter import OsdpReaderAdapter, SerialChannel
from firmware_adapters.osdp.codec import card_credential, decode_event, feedback_commands
from firmware_adapters.osdp.config import OsdpReaderConfig

__all__ = [
    "OsdpReaderAdapter",
    "OsdpReaderConfig",
    "SerialChannel",
    "card_credential",
    "decode_event",
    "feedback_commands",
]
