"""Doors: lock, readers, contact and operating modes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import SLUG, Section


class DoorReaderConfig(Section):
    """A reader at a door and which way it lets people through."""

    device: str = Field(description="Device id of the reader")
    direction: Literal["in", "out"] = Field(
        default="in", description="'in' enters the door's zone, 'out' leaves it (used by anti-passback)"
    )


class DoorConfig(Section):
    """A door: its lock, readers and contact, and how it is operated."""

    id: str = Field(pattern=SLUG, description="Door id")
    name: str = Field(description="Human name")
    zone: str = Field(description="Zone the door leads into")
    lock: str = Field(description="Device id of the lock")
    readers: list[DoorReaderConfig] = Field(
        default_factory=list,
        description="Readers at this door: {device, direction}; a bare device id means direction 'in'",
    )
    contact: str | None = Field(default=None, description="Device id of the door contact")
    camera: str | None = Field(
        default=None,
        description="Camera watching the door: each access decision and raised alarm there gets a snapshot, "
        "uploaded to the cloud after its record (docs/SYNC.md, Media)",
    )
    camera_line: str | None = Field(
        default=None,
        description="A counting line on the door's camera that people cross to pass the door: inward crossings "
        "are counted against the grants (tailgating, entry_without_badge alarms; docs/ACCESS.md)",
    )
    camera_zone: str | None = Field(
        default=None,
        description="Instead of a line: an image zone on the door's camera; entering it counts as passing inward",
    )
    vehicle_gate: bool = Field(
        default=False,
        description="A vehicle gate: plates of allowed vehicles read by the door's camera (read_plates) open it "
        "through the same decision as badges (access.vehicles, access.plate_gate)",
    )
    entry_direction: Literal["in", "out"] = Field(
        default="in", description="Which direction of camera_line enters through the door"
    )
    tailgate_sensitivity: Literal["low", "normal", "high"] = Field(
        default="normal",
        description="How long after the unlock window crossings still count against its grants: "
        "high 0 s, normal 2 s, low 5 s; 'low' also never raises entry_without_badge",
    )
    rex: str | None = Field(
        default=None,
        description="Device id of a request-to-exit input (a contact-kind device; open = pressed); "
        "shunts the forced-open alarm like a grant",
    )
    schedule: str = Field(
        default="always", description="Schedule when badges are honoured at this door at all ('always')"
    )
    unlock_s: float = Field(default=5.0, gt=0, le=600, description="How long a granted badge unlocks")
    held_open_s: float = Field(
        default=30.0, gt=0, le=3600, description="Door-held-open alarm after the contact is open this long"
    )
    fail_mode: Literal["secure", "safe"] = Field(
        default="secure",
        description="What the lock hardware does without power/control: 'secure' stays locked, 'safe' "
        "releases (shown as 'unlocked (fail-safe)' while its controller is unreachable)",
    )
    unlock_schedule: str | None = Field(
        default=None, description="Schedule during which the door is held unlocked (free access)"
    )
    first_person_in: bool = Field(
        default=False,
        description="With unlock_schedule: hold the door unlocked only after the first authorised badge "
        "inside the window",
    )
    require_pin: bool = Field(default=False, description="Card and PIN: a badge must be followed by the PIN")
    pin_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Card-then-PIN: how long the PIN may follow the card"
    )
    two_person: bool = Field(
        default=False, description="Two-person rule: two distinct authorised badges are needed to open"
    )
    two_person_window_s: float = Field(
        default=10.0, gt=0, le=300, description="Two-person rule: the second badge must follow within this"
    )

    @field_validator("readers", mode="before")
    @classmethod
    def _bare_reader_ids(cls, value: Any) -> Any:
        # Shorthand kept from config v1: `readers = ["reader-front"]` is an entry reader.
        if isinstance(value, list):
            return [{"device": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _modes_consistent(self) -> DoorConfig:
        if (self.camera_line or self.camera_zone) and self.camera is None:
            raise ValueError("camera_line and camera_zone need a camera")
        if self.vehicle_gate and self.camera is None:
            raise ValueError("vehicle_gate needs a camera")
        if self.camera_line and self.camera_zone:
            raise ValueError("name either camera_line or camera_zone, not both")
        if self.first_person_in and self.unlock_schedule is None:
            raise ValueError("first_person_in needs an unlock_schedule")
        ids = [r.device for r in self.readers]
        if len(set(ids)) != len(ids):
            raise ValueError("readers: a reader is listed twice")
        return self

    @property
    def reader_ids(self) -> list[str]:
        """Device ids of the door's readers."""
        return [r.device for r in self.readers]
