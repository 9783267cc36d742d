"""Load one day's inputs (people, HR profiles, shifts, entry/exit doors, access facts) and compute attendance.

Attendance is computed on read from `fact_access`, never stored: a batch that arrives days late (a site that was
offline) changes the affected days as soon as it is ingested. Only the principal's sites are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit import describe
from cloud.db.analytics_models import FactAccess
from cloud.db.models import Person, utcnow
from cloud.hr.api_models import CorrectionIn, CorrectionOut, DayStatus, IntervalOut, MissingPunchOut, PersonDayOut
from cloud.hr.engine import DayResult, Direction, Punch, Shift, attendance_day, shift_bounds
from cloud.hr.models import HrCorrection, HrDoor, HrHoliday, HrLeave, HrProfile, HrRoster, HrShift
from cloud.tenancy import Principal, owned, scoped_sites

# Facts read around the day: the widest window a day can have (a night shift plus margins, any time zone).
_READ_BEFORE = timedelta(hours=30)
_READ_AFTER = timedelta(hours=54)


def zone_of(name: str | None) -> ZoneInfo:
    """The time zone called `name`, UTC when unknown or unset."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def shift_rule(shift: HrShift, zone: ZoneInfo) -> Shift:
    """The engine's view of a stored shift."""
    return Shift(
        start=time.fromisoformat(shift.start),
        end=time.fromisoformat(shift.end),
        weekdays=frozenset(shift.weekdays),
        grace=timedelta(minutes=shift.grace_minutes),
        zone=zone,
    )


@dataclass(frozen=True)
class DayInputs:
    """Everything one tenant's days (one day or a period) need, loaded once."""

    zones: dict[str, ZoneInfo]
    people: list[Person]
    profiles: dict[str, HrProfile]
    shifts: dict[str, HrShift]
    punches: dict[str, list[Punch]]
    corrections: dict[tuple[str, date], HrCorrection]
    rosters: dict[str, list[HrRoster]] = field(default_factory=dict)
    holidays: dict[tuple[str, date], str] = field(default_factory=dict)
    leave: dict[str, list[HrLeave]] = field(default_factory=dict)

    def shift_of(self, person_id: str, day: date) -> HrShift | None:
        """The shift the person works on `day`: the latest-starting roster entry covering it, else the weekly one."""
        covering = [
            r for r in self.rosters.get(person_id, []) if r.starts_on <= day and (r.ends_on is None or day <= r.ends_on)
        ]
        if covering:
            return self.shifts.get(max(covering, key=lambda r: (r.starts_on, r.id)).shift_id)
        profile = self.profiles.get(person_id)
        return self.shifts.get(profile.shift_id or "") if profile else None

    def leave_on(self, person_id: str, day: date) -> str | None:
        """The kind of the person's approved leave covering `day`, if any."""
        for row in self.leave.get(person_id, []):
            if row.first_day <= day <= row.last_day:
                return row.kind
        return None


async def load(session: AsyncSession, principal: Principal, day: date, last: date | None = None) -> DayInputs:
    """Read the tenant's people, HR data and the access facts around `day` (to `last`, inclusive) at the
    principal's sites."""
    tenant = principal.tenant_id
    last = last or day
    sites = (await session.scalars(scoped_sites(principal))).all()
    zones = {s.id: zone_of(s.timezone) for s in sites}
    people = list(
        await session.scalars(
            select(Person).where(Person.tenant_id == tenant, Person.removed_at.is_(None)).order_by(Person.name)
        )
    )
    profiles = {p.person_id: p for p in await session.scalars(select(HrProfile).where(HrProfile.tenant_id == tenant))}
    shifts = {s.id: s for s in await session.scalars(select(HrShift).where(HrShift.tenant_id == tenant))}
    doors = {
        (d.site_id, d.door_id): d.direction
        for d in await session.scalars(select(HrDoor).where(HrDoor.tenant_id == tenant))
    }
    table = cast(Table, FactAccess.__table__)
    rows = await session.execute(
        select(FactAccess.person_id, FactAccess.site_id, FactAccess.door_id, FactAccess.occurred_at).where(
            *owned(table, principal),
            FactAccess.granted.is_(True),
            FactAccess.person_id.is_not(None),
            FactAccess.occurred_at >= datetime.combine(day, time(0), UTC) - _READ_BEFORE,
            FactAccess.occurred_at < datetime.combine(last, time(0), UTC) + _READ_AFTER,
        )
    )
    punches: dict[str, list[Punch]] = {}
    for person_id, site_id, door_id, at in rows:
        direction = doors.get((site_id, door_id or ""))
        if person_id and direction in ("in", "out"):
            punches.setdefault(person_id, []).append(Punch(at, site_id, door_id or "", cast(Direction, direction)))
    corrections = {
        (c.person_id, c.day): c
        for c in await session.scalars(
            select(HrCorrection).where(HrCorrection.tenant_id == tenant, HrCorrection.day.between(day, last))
        )
    }
    rosters: dict[str, list[HrRoster]] = {}
    for r in await session.scalars(
        select(HrRoster).where(
            HrRoster.tenant_id == tenant,
            HrRoster.starts_on <= last,
            or_(HrRoster.ends_on.is_(None), HrRoster.ends_on >= day),
        )
    ):
        rosters.setdefault(r.person_id, []).append(r)
    holidays = {
        (h.site_id, h.day): h.name
        for h in await session.scalars(
            select(HrHoliday).where(HrHoliday.tenant_id == tenant, HrHoliday.day.between(day, last))
        )
    }
    leave: dict[str, list[HrLeave]] = {}
    for row in await session.scalars(
        select(HrLeave).where(
            HrLeave.tenant_id == tenant,
            HrLeave.status == "approved",
            HrLeave.first_day <= last,
            HrLeave.last_day >= day,
        )
    ):
        leave.setdefault(row.person_id, []).append(row)
    return DayInputs(zones, people, profiles, shifts, punches, corrections, rosters, holidays, leave)


def _correction_out(fix: HrCorrection | None) -> CorrectionOut | None:
    if fix is None:
        return None
    return CorrectionOut(
        worked_minutes=fix.worked_minutes,
        reason=fix.reason,
        corrected_by=fix.corrected_by,
        corrected_at=fix.corrected_at,
    )


def _status(result: DayResult, holiday: str | None, leave: str | None) -> DayStatus:
    """A day without badges is a holiday or leave rather than absent (or off); badges always show."""
    if result.status in ("absent", "off"):
        if holiday is not None:
            return "holiday"
        if leave is not None:
            return "leave"
    return result.status


def compute(inputs: DayInputs, day: date, site_id: str | None = None) -> list[PersonDayOut]:
    """Every person's day (people outside the principal's sites with no punch there are left out)."""
    return [d for person in inputs.people if (d := person_day(inputs, person, day, site_id)) is not None]


def _neighbour_bounds(inputs: DayInputs, person_id: str, day: date) -> list[tuple[datetime, datetime]]:
    """The bounds of the person's shifts the day before and the day after (their punches are theirs)."""
    out = []
    for other in (day - timedelta(days=1), day + timedelta(days=1)):
        stored = inputs.shift_of(person_id, other)
        if stored is not None and stored.site_id in inputs.zones:
            bounds = shift_bounds(other, shift_rule(stored, inputs.zones[stored.site_id]))
            if bounds is not None:
                out.append(bounds)
    return out


def person_day(inputs: DayInputs, person: Person, day: date, site_id: str | None = None) -> PersonDayOut | None:
    """One person's day, or None when the person is neither scheduled nor seen at the principal's (or `site_id`)."""
    profile = inputs.profiles.get(person.id)
    stored_shift = inputs.shift_of(person.id, day)
    home = profile.home_site_id if profile else None
    own_sites = {s for s in (home, stored_shift.site_id if stored_shift else None) if s}
    punches = inputs.punches.get(person.id, [])
    seen_at = own_sites | {p.site_id for p in punches}
    visible = seen_at & inputs.zones.keys() if site_id is None else seen_at & {site_id}
    if not visible:
        return None
    shift = None
    if stored_shift is not None and stored_shift.site_id in inputs.zones:
        shift = shift_rule(stored_shift, inputs.zones[stored_shift.site_id])
    zone = inputs.zones.get(home or "") or (shift.zone if shift else ZoneInfo("UTC"))
    result = attendance_day(day, punches, shift, zone, _neighbour_bounds(inputs, person.id, day))
    correction = _correction_out(inputs.corrections.get((person.id, day)))
    holiday_site = stored_shift.site_id if stored_shift is not None else home
    holiday = inputs.holidays.get((holiday_site or "", day))
    leave = inputs.leave_on(person.id, day)
    return PersonDayOut(
        person_id=person.id,
        name=person.name,
        department=profile.department if profile else None,
        shift=stored_shift.name if stored_shift else None,
        status=_status(result, holiday, leave),
        holiday=holiday,
        leave=leave,
        scheduled_start=result.scheduled_start,
        scheduled_end=result.scheduled_end,
        first_in=result.first_in,
        last_out=result.last_out,
        worked_minutes=result.worked_minutes,
        break_minutes=result.break_minutes,
        late_minutes=result.late_minutes,
        early_leave_minutes=result.early_leave_minutes,
        sites=result.sites,
        intervals=[IntervalOut(site_id=i.site_id, start=i.start, end=i.end) for i in result.intervals],
        missing_punches=[
            MissingPunchOut(missing=m.missing, at=m.at, site_id=m.site_id, door_id=m.door_id) for m in result.missing
        ],
        correction=correction,
        counted_minutes=correction.worked_minutes if correction else result.worked_minutes,
    )


async def attendance(
    session: AsyncSession, principal: Principal, day: date, site_id: str | None = None
) -> list[PersonDayOut]:
    """The attendance day grid of the principal's tenant."""
    return compute(await load(session, principal, day), day, site_id)


async def correct(
    session: AsyncSession, principal: Principal, person_id: str, day: date, body: CorrectionIn
) -> tuple[CorrectionOut, int | None]:
    """Store HR's correction of a person-day (the caller checked the person); return it and the minutes it
    replaced (None: the first correction)."""
    row = await session.get(HrCorrection, (principal.tenant_id, person_id, day))
    before = row.worked_minutes if row else None
    if row is None:
        row = HrCorrection(tenant_id=principal.tenant_id, person_id=person_id, day=day)
        session.add(row)
    row.worked_minutes, row.reason = body.worked_minutes, body.reason
    row.corrected_by, row.corrected_at = principal.email, utcnow()
    out = CorrectionOut(
        worked_minutes=row.worked_minutes,
        reason=row.reason,
        corrected_by=row.corrected_by,
        corrected_at=row.corrected_at,
    )
    return out, before


def describe_correction(
    request: web.Request, person_id: str, day: date, body: CorrectionIn, before: int | None
) -> None:
    """Name the correction in the audit log (with the reason and the value it replaced)."""
    describe(
        request,
        "hr.day.correct",
        f"{person_id} {day.isoformat()}",
        worked_minutes=body.worked_minutes,
        previous_correction=before,
        reason=body.reason,
    )
