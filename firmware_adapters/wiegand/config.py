"""Config of a Wiegand reader wired to two GPIO inputs (D0, D1) of the box."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from firmware_adapters.base import DeviceAdapterConfig

FormatName = Literal["H10301", "W34", "H10304"]


def _all_formats() -> list[FormatName]:
    return ["H10301", "W34", "H10304"]


class WiegandReaderConfig(DeviceAdapterConfig):
    """A reader's D0/D1 lines on a GPIO chip; readers on one chip are served by one adapter instance."""

    type: Literal["wiegand"] = Field(default="wiegand", description="Adapter type key")
    chip: str = Field(default="/dev/gpiochip0", min_length=1, description="GPIO chip character device")
    d0: int | str = Field(description="Line offset or name of D0 (a falling edge is a 0 bit)")
    d1: int | str = Field(description="Line offset or name of D1 (a falling edge is a 1 bit)")
    bias: Literal["as_is", "pull_up", "disabled"] = Field(
        default="as_is", description="Input bias; 'pull_up' if the board has no pull-ups on D0/D1"
    )
    frame_timeout_ms: float = Field(
        default=25.0, ge=5, le=250, description="Quiet time on both lines that ends a frame"
    )
    formats: list[FormatName] = Field(
        default_factory=_all_formats,
        min_length=1,
        description="Card formats accepted (26, 34 and 37 bits with parity)",
    )
    accept_raw: bool = Field(
        default=False, description="Pass frames of other lengths on as raw hex credentials instead of rejecting"
    )

    @model_validator(mode="after")
    def _distinct_lines(self) -> WiegandReaderConfig:
        if self.d0 == self.d1:
            raise ValueError("d0 and d1 must be different lines")
        return self
