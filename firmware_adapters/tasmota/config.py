"""Config of a door strike driven by a Tasmota (or Shelly Gen1) relay that connects to the site broker itself."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from firmware_adapters.lock_commands import BridgedLockConfig

_LEVEL = r"^[^/+#\x00]+$"


class TasmotaRelayConfig(BridgedLockConfig):
    """One relay channel of a Wi-Fi relay; the device's broker account is the Outpost device id."""

    type: Literal["tasmota"] = Field(default="tasmota", description="Adapter type key")
    flavour: Literal["tasmota", "shelly"] = Field(
        default="tasmota", description="Firmware topic scheme: Tasmota (cmnd/stat/tele) or Shelly Gen1 (shellies/)"
    )
    topic: str = Field(
        pattern=_LEVEL, max_length=64, description="Tasmota Topic (%topic%), or the Shelly device id (shelly1-ABC123)"
    )
    relay: int = Field(default=1, ge=1, le=8, description="Relay channel, from 1 (Tasmota POWER1; Shelly relay/0)")
    active_high: bool = Field(
        default=True,
        description="True: relay ON releases the door (fail-secure strike); False: relay ON holds it (maglock)",
    )
    pulse: bool = Field(
        default=True,
        description="Let Tasmota end a timed unlock itself (PulseTime); False: the adapter switches back",
    )
    ack_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="How long the relay has to report the commanded state"
    )

    @model_validator(mode="after")
    def _pulse_possible(self) -> TasmotaRelayConfig:
        if self.pulse and self.flavour == "shelly":
            raise ValueError("pulse: Shelly Gen1 has no timed switching over MQTT; set pulse = false")
        if self.pulse and not self.active_high:
            raise ValueError(
                "pulse: PulseTime only ends an ON state, and with active_high = false unlocking switches the "
                "relay OFF; set pulse = false (the adapter switches it back)"
            )
        return self
