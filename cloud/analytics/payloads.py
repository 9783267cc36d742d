"""The record payloads analytics reads, validated leniently: unknown keys are ignored, a misfit yields no fact.

Payloads are the edge's journal bodies (`edge.storage.journal`); the cloud stored them as sent. A record whose
payload does not fit these shapes is still stored and counted, it only contributes no typed fact.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# Larger readings are no sensor's: left out of facts and rollups, which sum readings in thousandths in 64 bits.
MAX_READING = 1e9


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AccessDecisionPayload(_Payload):
    """An ``audit`` record of ``type: access_decision``."""

    door_id: str | None = Field(default=None, max_length=64, description="Door the reader belongs to")
    person_id: str | None = Field(default=None, max_length=64, description="Person the credential belongs to")
    credential: str | None = Field(default=None, max_length=128, description="Credential presented")
    granted: bool = Field(description="Whether the door was opened")
    reason: str = Field(default="", max_length=64, description="Why (the edge's decision reason)")


class AlarmPayload(_Payload):
    """An ``event`` record of ``type: alarm``."""

    alarm_id: int = Field(ge=0, le=2**63 - 1, description="The edge's alarm id (stable across its states)")
    door_id: str = Field(max_length=64, description="Door of the alarm")
    alarm: str = Field(max_length=64, description="Alarm kind, e.g. forced or held_open")
    state: Literal["raised", "acknowledged", "cleared"] = Field(description="What happened to the alarm")
    by: str | None = Field(default=None, max_length=120, description="Who acknowledged it")


class CountPayload(_Payload):
    """A ``detection`` record of ``kind: count``: the camera's own count of a category in the frame."""

    kind: Literal["count"] = Field(description="Record sub-kind")
    camera_id: str = Field(max_length=64, description="Camera slug")
    zone: str | None = Field(default=None, max_length=64, description="Site zone the camera watches")
    category: str = Field(max_length=32, description="Object category")
    count: int = Field(ge=0, le=1_000_000, description="Objects of the category in the frame")


class TrackPayload(_Payload):
    """A ``detection`` record of a track event (`edge.vision.events.TrackEvent`)."""

    kind: Literal["track_started", "track_ended", "zone_entered", "zone_left", "loitering", "line_crossed"] = Field(
        description="What the track did"
    )
    camera_id: str = Field(max_length=64, description="Camera slug")
    zone: str | None = Field(default=None, max_length=64, description="Site zone the camera watches")
    category: str = Field(max_length=32, description="Object category")
    first_seen_at: AwareDatetime | None = Field(default=None, description="The track's first sighting")
    dwell_s: float | None = Field(default=None, ge=0, le=1e9, description="Seconds from first to last sighting")
    region: str | None = Field(default=None, max_length=64, description="Image zone or line name")
    direction: Literal["in", "out"] | None = Field(default=None, description="Line crossing direction")


class DeviceStatusPayload(_Payload):
    """A ``device_status`` record: a device went online or offline."""

    device_id: str = Field(max_length=64, description="Device id")
    kind: str | None = Field(default=None, max_length=32, description="Device kind")
    online: bool = Field(description="Whether it is now online")
    firmware: str | None = Field(default=None, max_length=64, description="Reported firmware version")


class TelemetryPayload(_Payload):
    """A ``telemetry`` record: a device's latest readings."""

    device_id: str = Field(max_length=64, description="Device id")
    values: dict[str, float | None] = Field(
        description=f"Readings by name (null: not a finite number; beyond +/-{MAX_READING:g}: not counted)"
    )

    @field_validator("values")
    @classmethod
    def _countable(cls, values: dict[str, float | None]) -> dict[str, float | None]:
        return {k: v if v is None or abs(v) <= MAX_READING else None for k, v in values.items()}


class DevicePayload(_Payload):
    """Any record naming a device (door contacts, exit buttons): it was seen."""

    device_id: str = Field(max_length=64, description="Device id")
