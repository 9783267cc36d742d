"""Config of one simulated device."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SimulatedDeviceConfig(BaseModel):
    """Where a simulated device connects and as whom."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(description="Device id, also the MQTT username and client id")
    password: str = Field(repr=False, description="MQTT password")
    host: str = Field(default="127.0.0.1", description="Broker host")
    port: int = Field(ge=1, le=65535, description="Broker port")
