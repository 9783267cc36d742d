"""Config of an OSDP reader (Peripheral Device) on an RS-485 bus; the box is the Control Panel."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from firmware_adapters.base import DeviceAdapterConfig


class OsdpReaderConfig(DeviceAdapterConfig):
    """One reader on a bus; readers sharing `port` are served by one Control Panel (one adapter instance)."""

    type: Literal["osdp"] = Field(default="osdp", description="Adapter type key")
    port: str = Field(min_length=1, description="Serial device of the RS-485 bus, e.g. /dev/ttyUSB0")
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400] = Field(
        default=9600, description="Bus speed; the same for every reader on the port"
    )
    address: int = Field(ge=0, le=126, description="The reader's OSDP address on the bus")
    reader_no: int = Field(default=0, ge=0, le=255, description="Reader number within the device (LED/buzzer)")
    scbk_file: Path | None = Field(
        default=None,
        description="File (mode 0600) with the Secure Channel Base Key as 32 hex digits; "
        "when set the secure channel is enforced, when not the bus runs without encryption",
    )
    credential: Literal["auto", "hex"] = Field(
        default="auto",
        description="auto: Wiegand card data of a known format as facility:card, else hex; hex: always raw hex",
    )
    feedback: bool = Field(default=True, description="Show access decisions on the reader's LED and buzzer")
    reprobe_s: float = Field(
        default=10.0,
        ge=0.5,
        le=600,
        description="While the reader is offline, ask libosdp to try it again this often (it waits 300 s itself)",
    )
