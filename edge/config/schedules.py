"""Weekly schedules and holiday calendars."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import Section

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleWindow(Section):
    """A weekly time window in the site's time zone; end before start spans midnight, end == start is 24 h.

    A window belongs to the day it starts on: on a holiday of the schedule it does not start (a window that
    started the evening before runs to its end). Times are wall-clock: in the hour skipped by a DST change a
    window starting inside it opens when the clock jumps; in the repeated hour a window is open both times.
    """

    days: list[Weekday] = Field(min_length=1, description="Weekdays the window starts on")
    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive)")


class HolidayWindow(Section):
    """A time window that applies on holidays instead of the weekly windows."""

    start: time = Field(description="Local start time, HH:MM[:SS]")
    end: time = Field(description="Local end time, HH:MM[:SS] (exclusive); before start spans midnight")


class ScheduleConfig(Section):
    """A named weekly schedule, optionally with holiday calendars that replace its windows on those dates."""

    windows: list[ScheduleWindow] = Field(default_factory=list, description="Open windows")
    holidays: list[str] = Field(
        default_factory=list, description="Ids of holiday calendars (top-level `holidays`) this schedule honours"
    )
    holiday_windows: list[HolidayWindow] = Field(
        default_factory=list, description="Windows on holidays (none = closed all holiday)"
    )


class HolidayCalendarConfig(Section):
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
