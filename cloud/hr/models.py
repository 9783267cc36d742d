"""HR tables: people's HR fields, weekly shifts, who works which shift, and which doors are entry/exit doors.

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
