"""The attendance day grid (one row per person) and a person's timeline (one row per day) as flat CSV rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pydantic import BaseModel

from cloud.hr.api_models import PersonDayOut, TimelineDayOut


class AttendanceRow(BaseModel):
    person_id: str
    name: str
    department: str | None
    shift: str | None
    status: str
    first_in: datetime | None
    last_out: datetime | None
    worked_minutes: int
    counted_minutes: int
    correction_reason: str
    break_minutes: int
    late_minutes: int
    early_leave_minutes: int
    sites: str
    missing_punches: str


def rows_of(days: Sequence[PersonDayOut]) -> list[AttendanceRow]:
    """One CSV row per person-day; missing punches as `out@time` (the entry without an exit) separated by spaces."""
    return [
        AttendanceRow(
            **d.model_dump(include=set(AttendanceRow.model_fields) - {"sites", "missing_punches", "correction_reason"}),
            sites=" ".join(d.sites),
            correction_reason=d.correction.reason if d.correction else "",
            missing_punches=" ".join(f"{m.missing}@{m.at.isoformat()}" for m in d.missing_punches),
        )
        for d in days
    ]


class TimelineRow(AttendanceRow):
    day: date


def timeline_rows_of(days: Sequence[TimelineDayOut]) -> list[TimelineRow]:
    """One CSV row per day of a person's timeline (the day grid's columns plus the day)."""
    return [TimelineRow(day=d.day, **row.model_dump()) for d, row in zip(days, rows_of(days), strict=True)]
