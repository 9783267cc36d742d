"""Bodies and answers of the HR JSON API (validated with pydantic; they appear in the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.days import CalendarDay

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# present/incomplete/absent/off from the badges; holiday or leave replaces absent/off on a day without badges.
DayStatus = Literal["present", "incomplete", "absent", "off", "holiday", "leave"]


class ProfileIn(BaseModel):
    """A person's HR fields (each one replaces the stored value; null clears it)."""

    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(default=None, max_length=120)
    job_title: str | None = Field(default=None, max_length=120)
    employed_from: date | None = None
    employed_until: date | None = None
    home_site_id: str | None = Field(default=None, max_length=32)
    shift_id: str | None = Field(default=None, pattern=SLUG)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProfileIn:
        if self.employed_from and self.employed_until and self.employed_until < self.employed_from:
            raise ValueError("employed_until is before employed_from")
        return self


class ProfileOut(ProfileIn):
    person_id: str


class ShiftIn(BaseModel):
    """A weekly shift at a site, in the site's local time; an end at or before the start ends the next day."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    site_id: str = Field(min_length=1, max_length=32)
    start: str = Field(pattern=CLOCK, description="HH:MM local time")
    end: str = Field(pattern=CLOCK, description="HH:MM local time")
    weekdays: list[int] = Field(min_length=1, max_length=7, description="ISO weekdays: 1 Monday ... 7 Sunday")
    grace_minutes: int = Field(default=0, ge=0, le=120)

    @model_validator(mode="after")
    def _weekdays_valid(self) -> ShiftIn:
        if any(d < 1 or d > 7 for d in self.weekdays) or len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("weekdays must be distinct numbers 1 (Monday) to 7 (Sunday)")
        if self.start == self.end:
            raise ValueError("a shift cannot start and end at the same time")
        return self


class ShiftOut(ShiftIn):
    id: str


class ShiftList(BaseModel):
    shifts: list[ShiftOut]


class DoorIn(BaseModel):
    """Whether a door's granted badges count as entries (`in`) or exits (`out`)."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["in", "out"]


class DoorOut(DoorIn):
    site_id: str
    door_id: str


class DoorList(BaseModel):
    doors: list[DoorOut]


class MissingPunchOut(BaseModel):
    """A punch whose pair is missing (`missing`: the direction nobody badged); never filled in by a guess."""

    missing: Literal["in", "out"]
    at: datetime
    site_id: str
    door_id: str


class IntervalOut(BaseModel):
    site_id: str
    start: datetime
    end: datetime


class CorrectionIn(BaseModel):
    """HR's correction of a day: the minutes to count, and why (required)."""

    model_config = ConfigDict(extra="forbid")

    worked_minutes: int = Field(ge=0, le=24 * 60)
    reason: str = Field(min_length=3, max_length=500)


class CorrectionOut(CorrectionIn):
    corrected_by: str
    corrected_at: datetime


class PersonDayOut(BaseModel):
    """One person's attendance on one day (times in UTC; minutes are whole minutes)."""

    person_id: str
    name: str
    department: str | None
    shift: str | None
    status: DayStatus
    holiday: str | None = Field(default=None, description="The public holiday at the person's site that day")
    leave: str | None = Field(default=None, description="The kind of approved leave covering the day")
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    first_in: datetime | None
    last_out: datetime | None
    worked_minutes: int
    break_minutes: int
    late_minutes: int
    early_leave_minutes: int
    sites: list[str]
    intervals: list[IntervalOut]
    missing_punches: list[MissingPunchOut]
    correction: CorrectionOut | None = None
    counted_minutes: int = Field(description="The minutes that count: HR's correction if any, else worked_minutes")


class AttendanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: CalendarDay
    site: str | None = Field(default=None, max_length=32)


class AttendanceDayOut(BaseModel):
    day: date
    people: list[PersonDayOut]


MAX_TIMELINE_DAYS = 62
DEFAULT_TIMELINE_DAYS = 14


class TimelineQuery(BaseModel):
    """A person's timeline range: `start` to `end` inclusive (at most 62 days)."""

    model_config = ConfigDict(extra="forbid")

    start: CalendarDay
    end: CalendarDay

    @model_validator(mode="after")
    def _range_valid(self) -> TimelineQuery:
        if self.end < self.start:
            raise ValueError("end is before start")
        if (self.end - self.start).days + 1 > MAX_TIMELINE_DAYS:
            raise ValueError(f"at most {MAX_TIMELINE_DAYS} days")
        return self


class TimelineDayOut(PersonDayOut):
    day: date


class TimelineOut(BaseModel):
    """One person's attendance day by day over a range (computed like the day grid)."""

    person_id: str
    name: str
    start: date
    end: date
    days: list[TimelineDayOut]
