"""Config of a device that speaks Outpost's native MQTT JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutpostMqttConfig(BaseModel):
    """The device connects to the site broker itself and speaks docs/MQTT.md."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["outpost_mqtt"] = Field(default="outpost_mqtt", description="Adapter type key")
