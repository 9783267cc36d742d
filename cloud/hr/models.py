"""HR tables: HR fields, weekly shifts, rosters, entry/exit doors, corrections, holidays, leave and timesheets.

Every table is keyed by tenant first (row-level security, Alembic 0015). People are the cloud's people
(`people.id`, one record across all sites); attendance itself is never stored: it is computed from the access
facts on read (cloud/hr/attendance.py), so a late batch from an offline site changes the affected days at once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base, UTCDateTime


class HrProfile(Base):
    """A person's HR fields (absent: none set yet)."""

    __tablename__ = "hr_profiles"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department: Mapped[str | None] = mapped_column(String(120), nullable=True)
    job_title: Mapped[str | None] = mapped_column(String(120), nullable=True)
    employed_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    employed_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    home_site_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The weekly shift the person works (the roster); None: no scheduled hours.
    shift_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class HrShift(Base):
    """A weekly shift at a site: local start and end (end <= start: it ends the next day), weekdays, grace."""

    __tablename__ = "hr_shifts"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    site_id: Mapped[str] = mapped_column(String(32))
    start: Mapped[str] = mapped_column(String(5))  # "HH:MM", the site's local time
    end: Mapped[str] = mapped_column(String(5))
    # ISO weekdays the shift starts on (1 = Monday ... 7 = Sunday).
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)
    grace_minutes: Mapped[int] = mapped_column(Integer, default=0)


class HrDoor(Base):
    """A door whose granted badges count for attendance: `in` (entry) or `out` (exit). Other doors are ignored."""

    __tablename__ = "hr_doors"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    door_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))


class HrCorrection(Base):
    """HR's correction of one person-day: the minutes to count instead of the computed ones, and why.

    The badge events stay as they were; the day shows both (docs/FLEET_HR.md); the change is in the audit log.
    """

    __tablename__ = "hr_corrections"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    worked_minutes: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    corrected_by: Mapped[str] = mapped_column(String(320))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HrRoster(Base):
    """A dated roster entry: the person works `shift_id` from `starts_on` to `ends_on` (inclusive; None: open).

    On a day covered by an entry it replaces the person's weekly shift; the latest-starting entry wins."""

    __tablename__ = "hr_rosters"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    shift_id: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class HrHoliday(Base):
    """A public holiday at a site (the site's local calendar day)."""

    __tablename__ = "hr_holidays"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))


class HrLeave(Base):
    """A leave request over whole days: requested, then approved or rejected by HR (only approved leave counts)."""

    __tablename__ = "hr_leave"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(320))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str] = mapped_column(String(500), default="")


class HrOvertimeRule(Base):
    """The tenant's overtime thresholds (absent: the defaults in cloud/hr/overtime.py)."""

    __tablename__ = "hr_overtime_rules"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    daily_minutes: Mapped[int] = mapped_column(Integer)
    weekly_minutes: Mapped[int] = mapped_column(Integer)


class HrTimesheet(Base):
    """A person's timesheet for a period once it left draft: the totals as submitted, and its approval.

    A period without a row is a draft (computed live). `status`: submitted, approved or rejected."""

    __tablename__ = "hr_timesheets"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    counted_minutes: Mapped[int] = mapped_column(Integer)
    regular_minutes: Mapped[int] = mapped_column(Integer)
    overtime_minutes: Mapped[int] = mapped_column(Integer)
    leave_days: Mapped[int] = mapped_column(Integer)
    holiday_days: Mapped[int] = mapped_column(Integer)
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
