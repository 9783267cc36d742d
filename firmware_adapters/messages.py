"""Outpost's typed device messages: what devices report and what the site sends them.

Every adapter maps its protocol to and from these (the native protocol's codec is `outpost_mqtt.codec`);
the site core sees only these.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""A device id: also its MQTT username and a topic level of the native protocol."""


class PayloadError(ValueError):
    """A topic or payload does not follow the contract."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Status(_Msg):
    """Retained online/offline state; `offline` is the device's Last Will."""

    state: Literal["online", "offline"] = Field(description="Connection state")
    firmware: str | None = Field(default=None, max_length=64, description="Firmware version, if known")


class Telemetry(_Msg):
    """Periodic sensor readings; keys are metric names (e.g. temperature_c)."""

    values: dict[str, float] = Field(description="Metric name -> value", max_length=64)
    ts: datetime = Field(default_factory=_now, description="When measured")


class BadgeRead(_Msg):
    """A credential presented at a reader."""

    type: Literal["badge"] = "badge"
    id: str = Field(default_factory=_new_id, max_length=64, description="Event id, echoed in the ack")
    credential: str = Field(min_length=1, max_length=128, description="Card number / UID as read")
    ts: datetime = Field(default_factory=_now, description="When read")
    pin: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4,12}$",
        repr=False,
        description="PIN keyed in after this card (card+PIN doors); never logged or stored in clear",
    )


class ContactChange(_Msg):
    """A door contact opened or closed."""

    type: Literal["contact"] = "contact"
    id: str = Field(default_factory=_new_id, max_length=64, description="Event id, echoed in the ack")
    open: bool = Field(description="True when the door is open")
    ts: datetime = Field(default_factory=_now, description="When it changed")


DeviceEvent = Annotated[BadgeRead | ContactChange, Field(discriminator="type")]


class Command(_Msg):
    """A command to an actuator (lock)."""

    id: str = Field(default_factory=_new_id, max_length=64, description="Command id, echoed in the ack")
    action: Literal["unlock", "lock"] = Field(description="What to do")
    duration_s: float | None = Field(default=None, ge=0, le=3600, description="Unlock time; None = until lock")
    ts: datetime = Field(default_factory=_now, description="When issued")


class Ack(_Msg):
    """Acknowledges a command (device -> site, channel ack) or an event (site -> device, channel receipt)."""

    id: str = Field(max_length=64, description="Id of the acknowledged command or event")
    ok: bool = Field(default=True, description="False if the device could not carry it out")
    detail: str = Field(default="", max_length=200, description="Why not, when ok is false")


class Feedback(_Msg):
    """Site -> reader: the access decision on a badge read, shown by the reader's LED and buzzer.

    Not a native MQTT channel in contract v1; adapters of readers with local feedback (OSDP) act on it.
    """

    id: str = Field(max_length=64, description="Id of the badge read event decided on")
    granted: bool = Field(description="True if access was granted")
    reason: str = Field(
        default="", max_length=64, description="The decision's reason as audited (e.g. pin_required), if any"
    )


DeviceMessage = Status | Telemetry | BadgeRead | ContactChange | Command | Ack
SiteMessage = Command | Ack | Feedback
"""What the site sends to a device: a command, an event receipt, or reader feedback."""
