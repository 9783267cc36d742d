"""The payroll-hours export: one flat CSV row per person's timesheet of the period."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from cloud.hr.time_models import TimesheetList


class TimesheetRow(BaseModel):
    person_id: str
    name: str
    department: str | None
    period: str
    start: date
    end: date
    status: str
    counted_hours: str
    regular_hours: str
    overtime_hours: str
    counted_minutes: int
    regular_minutes: int
    overtime_minutes: int
    leave_days: int
    holiday_days: int
    incomplete_days: int
    changed_since_submitted: bool
    approved_by: str


def hours(minutes: int) -> str:
    """Minutes as decimal hours with two places (payroll systems take 7.50, not 7:30)."""
    return f"{minutes / 60:.2f}"


def timesheet_rows(sheets: TimesheetList) -> list[TimesheetRow]:
    """One row per timesheet; hours as decimals beside the exact minutes."""
    return [
        TimesheetRow(
            **s.model_dump(include=set(TimesheetRow.model_fields)),
            counted_hours=hours(s.counted_minutes),
            regular_hours=hours(s.regular_minutes),
            overtime_hours=hours(s.overtime_minutes),
            approved_by=s.decided_by or "" if s.status == "approved" else "",
        )
        for s in sheets.timesheets
    ]
