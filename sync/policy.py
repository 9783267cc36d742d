"""Access policy shared by the edge config and the cloud's configuration documents (one source of truth).

The edge's TOML config and the cloud-managed site document both describe schedules, holiday calendars,
access levels and door policies with these models, so a document the cloud accepts is one the edge can apply.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class PolicyModel(BaseModel):
    """Base of the policy models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ScheduleWindow(PolicyModel):
    """A weekly time window in the site's time zone; end before start spans midnight, end == start is 24 h.

    A window belongs to the day it starts on: on a holiday of the schedule it does not start (a window that
    started the evening before runs to its end). Times are wall-clock: in the hour skipped by a DST change a
    window starting inside it opens when the clock jumps; in the repeated hour a window is open both times.
    """

    days: list[Weekday] = Field(min_length=1, description="Weekdays the window starts on")
    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive)")


class HolidayWindow(PolicyModel):
    """A time window that applies on holidays instead of the weekly windows."""

    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive); before start spans midnight")


class Schedule(PolicyModel):
    """A named weekly schedule, optionally with holiday calendars that replace its windows on those dates."""

    windows: list[ScheduleWindow] = Field(default_factory=list, description="Open windows")
    holidays: list[str] = Field(
        default_factory=list, description="Ids of holiday calendars (top-level `holidays`) this schedule honours"
    )
    holiday_windows: list[HolidayWindow] = Field(
        default_factory=list, description="Windows on holidays (none = closed all holiday)"
    )


class HolidayCalendar(PolicyModel):
    """A named set of holiday dates in the site's time zone."""

    name: str = Field(default="", max_length=120, description="Human name, e.g. 'Bavaria 2026'")
    dates: list[date] = Field(default_factory=list, description="One-off holiday dates, YYYY-MM-DD")
    annual: list[str] = Field(
        default_factory=list, description="Holidays on the same date every year, MM-DD (e.g. '12-25')"
    )

    @field_validator("annual")
    @classmethod
    def _month_day(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                month, day = (int(part) for part in value.split("-"))
                date(2024, month, day)  # a leap year, so 02-29 is allowed
            except ValueError as err:
                raise ValueError(f"{value!r} is not MM-DD") from err
        return values


class AccessLevel(PolicyModel):
    """An access level: a set of doors usable during one schedule. People hold levels."""

    name: str = Field(default="", max_length=120, description="Human name")
    doors: list[str] = Field(min_length=1, description="Door ids, or ['*'] for every door")
    schedule: str = Field(default="always", description="Schedule during which the doors open ('always')")


_NOT_PLATE_CHAR = re.compile(r"[^A-Z0-9]")


class Vehicle(PolicyModel):
    """A vehicle allowed at the site: its plate opens the vehicle gates its levels cover."""

    plate: str = Field(min_length=4, max_length=16, description="Licence plate; spaces and dashes are ignored")
    name: str = Field(default="", max_length=200, description="Who or what the vehicle is (audited)")
    levels: list[str] = Field(
        default_factory=list, max_length=64, description="Access levels (doors and schedules) of the vehicle"
    )
    valid_until: AwareDatetime | None = Field(default=None, description="No longer allowed from this instant")

    @field_validator("plate")
    @classmethod
    def _normalise(cls, plate: str) -> str:
        text = _NOT_PLATE_CHAR.sub("", plate.upper())
        if not 4 <= len(text) <= 10:
            raise ValueError(f"plate {plate!r} must have 4-10 letters and digits")
        return text


class DoorPolicy(PolicyModel):
    """The centrally managed part of a door: how it is operated (its wiring stays in the box's config).

    Every field is optional: an absent field keeps the value of the box's own config.
    """

    schedule: str | None = Field(default=None, description="Schedule when badges are honoured at this door")
    unlock_s: float | None = Field(default=None, gt=0, le=600, description="How long a granted badge unlocks")
    held_open_s: float | None = Field(default=None, gt=0, le=3600, description="Held-open alarm after this long")
    unlock_schedule: str | None = Field(default=None, description="Schedule during which the door is held unlocked")
    first_person_in: bool | None = Field(default=None, description="Hold unlocked only after the first badge")
    require_pin: bool | None = Field(default=None, description="Card and PIN")
    two_person: bool | None = Field(default=None, description="Two distinct badges are needed to open")
