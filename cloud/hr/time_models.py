"""Bodies and answers of the HR time API: rosters, public holidays, leave, overtime rules and timesheets."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.hr.api_models import SLUG

LeaveKind = Literal["annual", "sick", "unpaid", "parental", "other"]
LeaveStatus = Literal["requested", "approved", "rejected"]
Period = Literal["week", "month"]
TimesheetStatus = Literal["draft", "submitted", "approved", "rejected"]
MAX_SPAN = timedelta(days=366)


class RosterIn(BaseModel):
    """Who works which shift over a date range (inclusive; no end: until further notice)."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=SLUG, description="The person (cloud people id)")
    shift_id: str = Field(pattern=SLUG, description="The weekly shift worked over the range")
    starts_on: date = Field(description="First day (the site's local calendar)")
    ends_on: date | None = Field(default=None, description="Last day, inclusive; null: open-ended")

    @model_validator(mode="after")
    def _in_order(self) -> RosterIn:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class RosterOut(RosterIn):
    id: str


class RosterList(BaseModel):
    rosters: list[RosterOut]


class HolidayIn(BaseModel):
    """A public holiday at a site."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, description="What the holiday is called")


class HolidayOut(HolidayIn):
    site_id: str
    day: date


class HolidayList(BaseModel):
    holidays: list[HolidayOut]


class HolidayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(default=None, ge=2000, le=2100, description="Only this calendar year")
    site: str | None = Field(default=None, max_length=32, description="Only this site")


class LeaveIn(BaseModel):
    """A leave request over whole days (inclusive)."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=SLUG, description="Who is away")
    kind: LeaveKind = Field(description="Type of leave")
    first_day: date = Field(description="First day away")
    last_day: date = Field(description="Last day away (inclusive)")
    note: str = Field(default="", max_length=500, description="Free text")

    @model_validator(mode="after")
    def _span(self) -> LeaveIn:
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        if self.last_day - self.first_day > MAX_SPAN:
            raise ValueError("a leave request spans at most a year")
        return self


class DecisionIn(BaseModel):
    """Approve or reject (a leave request or a submitted timesheet), with an optional note."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "rejected"] = Field(description="The decision")
    note: str = Field(default="", max_length=500, description="Why (shown to HR)")


class LeaveOut(LeaveIn):
    id: str
    status: LeaveStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str


class LeaveList(BaseModel):
    leave: list[LeaveOut]


class LeaveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: LeaveStatus | None = Field(default=None, description="Only requests in this state")
    person: str | None = Field(default=None, max_length=64, description="Only this person's requests")


class OvertimeRuleIn(BaseModel):
    """Overtime thresholds: minutes a day and minutes an ISO week before hours count as overtime."""

    model_config = ConfigDict(extra="forbid")

    daily_minutes: int = Field(ge=60, le=24 * 60, description="Counted minutes a day beyond which is overtime")
    weekly_minutes: int = Field(ge=60, le=7 * 24 * 60, description="Regular minutes a week beyond which is overtime")


class TimesheetQuery(BaseModel):
    """A period: a week starting on a Monday, or a month starting on the 1st."""

    model_config = ConfigDict(extra="forbid")

    period: Period = Field(description="week or month")
    start: date = Field(description="A Monday (week) or the 1st (month)")
    site: str | None = Field(default=None, max_length=32, description="Only people seen or scheduled at this site")

    @model_validator(mode="after")
    def _aligned(self) -> TimesheetQuery:
        if self.period == "week" and self.start.isoweekday() != 1:
            raise ValueError("a week starts on a Monday")
        if self.period == "month" and self.start.day != 1:
            raise ValueError("a month starts on the 1st")
        return self


class TimesheetDayOut(BaseModel):
    day: date
    status: str
    counted_minutes: int
    overtime_minutes: int = Field(description="Minutes over the daily threshold")
    holiday: str | None
    leave: str | None


class TimesheetOut(BaseModel):
    """One person's timesheet: totals computed live (draft) or as submitted (submitted, approved, rejected)."""

    person_id: str
    name: str
    department: str | None
    period: Period
    start: date
    end: date
    status: TimesheetStatus
    counted_minutes: int
    regular_minutes: int
    overtime_minutes: int
    leave_days: int
    holiday_days: int
    incomplete_days: int = Field(description="Days with a missing punch and no correction (live)")
    changed_since_submitted: bool = Field(description="The live totals differ from the submitted ones")
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    days: list[TimesheetDayOut] = Field(default_factory=list)


class TimesheetList(BaseModel):
    period: Period
    start: date
    end: date
    daily_minutes: int
    weekly_minutes: int
    timesheets: list[TimesheetOut]
