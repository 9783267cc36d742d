"""The one write path (API and portal) of rosters, public holidays and leave requests, and their listings.

A roster entry names a person and a shift of one of the principal's sites; a holiday belongs to a site of the
principal; a leave request names a person and is decided once (approved or rejected) by someone with
`hr.approve`. Attendance reads all three (cloud/hr/attendance.py).
"""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import extract, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import people
from cloud.db.models import Person, PersonSite, utcnow
from cloud.hr.errors import HrConflict, HrNotFound
from cloud.hr.models import HrHoliday, HrLeave, HrProfile, HrRoster, HrShift
from cloud.hr.time_models import (
    DecisionIn,
    HolidayIn,
    HolidayOut,
    HolidayQuery,
    LeaveIn,
    LeaveOut,
    LeaveQuery,
    RosterIn,
    RosterOut,
)
from cloud.tenancy import Principal, SiteNotFound, TenantScope


async def check_site(session: AsyncSession, principal: Principal, site_id: str) -> None:
    """Raise HrNotFound unless `site_id` is one of the principal's sites."""
    try:
        await TenantScope(session, principal).site(site_id)
    except SiteNotFound as err:
        raise HrNotFound(f"no such site: {site_id}") from err


async def people_in_scope(session: AsyncSession, principal: Principal) -> set[str] | None:
    """The ids of the people a site-limited principal may see (those of its sites, or whose HR home site is one
    of them); None for a principal with all sites."""
    if principal.site_ids is None:
        return None
    sites = sorted(principal.site_ids)
    listed = select(Person.id).join(PersonSite, PersonSite.person_pk == Person.pk)
    listed = listed.where(Person.tenant_id == principal.tenant_id, PersonSite.site_id.in_(sites))
    homes = select(HrProfile.person_id).where(HrProfile.tenant_id == principal.tenant_id)
    homes = homes.where(HrProfile.home_site_id.in_(sites))
    return set(await session.scalars(listed)) | set(await session.scalars(homes))


async def check_person(session: AsyncSession, principal: Principal, person_id: str) -> None:
    """Raise HrNotFound unless `person_id` is one of the tenant's people the principal may see."""
    try:
        await people.find_person(session, principal.tenant_id, person_id)
    except people.PersonNotFound as err:
        raise HrNotFound(f"no such person: {person_id}") from err
    scope = await people_in_scope(session, principal)
    if scope is not None and person_id not in scope:
        raise HrNotFound(f"no such person: {person_id}")


def _visible(principal: Principal, site_id: str) -> bool:
    return principal.site_ids is None or site_id in principal.site_ids


def roster_out(row: HrRoster) -> RosterOut:
    return RosterOut(
        id=row.id, person_id=row.person_id, shift_id=row.shift_id, starts_on=row.starts_on, ends_on=row.ends_on
    )


async def list_rosters(session: AsyncSession, principal: Principal) -> list[RosterOut]:
    """The roster entries of shifts at the principal's sites, by person and start."""
    shifts = {s.id: s for s in await session.scalars(select(HrShift).where(HrShift.tenant_id == principal.tenant_id))}
    rows = await session.scalars(
        select(HrRoster)
        .where(HrRoster.tenant_id == principal.tenant_id)
        .order_by(HrRoster.person_id, HrRoster.starts_on, HrRoster.id)
    )
    return [roster_out(r) for r in rows if r.shift_id in shifts and _visible(principal, shifts[r.shift_id].site_id)]


async def put_roster(session: AsyncSession, principal: Principal, roster_id: str, body: RosterIn) -> RosterOut:
    """Create or replace a roster entry."""
    await check_person(session, principal, body.person_id)
    shift = await session.get(HrShift, (principal.tenant_id, body.shift_id))
    if shift is None:
        raise HrNotFound(f"no such shift: {body.shift_id}")
    await check_site(session, principal, shift.site_id)
    row = await session.get(HrRoster, (principal.tenant_id, roster_id))
    if row is not None:
        old = await session.get(HrShift, (principal.tenant_id, row.shift_id))
        if old is not None:
            await check_site(session, principal, old.site_id)
    else:
        row = HrRoster(tenant_id=principal.tenant_id, id=roster_id)
        session.add(row)
    row.person_id, row.shift_id, row.starts_on, row.ends_on = (
        body.person_id,
        body.shift_id,
        body.starts_on,
        body.ends_on,
    )
    return roster_out(row)


async def delete_roster(session: AsyncSession, principal: Principal, roster_id: str) -> RosterOut:
    """Remove a roster entry (the person falls back to their weekly shift on its days)."""
    row = await session.get(HrRoster, (principal.tenant_id, roster_id))
    shift = await session.get(HrShift, (principal.tenant_id, row.shift_id)) if row else None
    if row is None or (shift is not None and not _visible(principal, shift.site_id)):
        raise HrNotFound(f"no such roster entry: {roster_id}")
    out = roster_out(row)
    await session.delete(row)
    return out


async def list_holidays(session: AsyncSession, principal: Principal, query: HolidayQuery) -> list[HolidayOut]:
    """The public holidays of the principal's sites, by day."""
    select_rows = select(HrHoliday).where(HrHoliday.tenant_id == principal.tenant_id)
    if query.site is not None:
        select_rows = select_rows.where(HrHoliday.site_id == query.site)
    if query.year is not None:
        select_rows = select_rows.where(extract("year", HrHoliday.day) == query.year)
    rows = await session.scalars(select_rows.order_by(HrHoliday.day, HrHoliday.site_id))
    return [HolidayOut(site_id=h.site_id, day=h.day, name=h.name) for h in rows if _visible(principal, h.site_id)]


async def put_holiday(
    session: AsyncSession, principal: Principal, site_id: str, day: date, body: HolidayIn
) -> HolidayOut:
    """Set (or rename) a site's public holiday."""
    await check_site(session, principal, site_id)
    row = await session.get(HrHoliday, (principal.tenant_id, site_id, day))
    if row is None:
        row = HrHoliday(tenant_id=principal.tenant_id, site_id=site_id, day=day)
        session.add(row)
    row.name = body.name
    return HolidayOut(site_id=site_id, day=day, name=body.name)


async def delete_holiday(session: AsyncSession, principal: Principal, site_id: str, day: date) -> HolidayOut:
    """Remove a site's public holiday."""
    await check_site(session, principal, site_id)
    row = await session.get(HrHoliday, (principal.tenant_id, site_id, day))
    if row is None:
        raise HrNotFound(f"no holiday at {site_id} on {day.isoformat()}")
    await session.delete(row)
    return HolidayOut(site_id=site_id, day=day, name=row.name)


def leave_out(row: HrLeave) -> LeaveOut:
    return LeaveOut.model_validate(row, from_attributes=True)


async def list_leave(session: AsyncSession, principal: Principal, query: LeaveQuery) -> list[LeaveOut]:
    """The leave requests of the people the principal may see, latest first day first."""
    rows = select(HrLeave).where(HrLeave.tenant_id == principal.tenant_id)
    if query.status is not None:
        rows = rows.where(HrLeave.status == query.status)
    if query.person is not None:
        rows = rows.where(HrLeave.person_id == query.person)
    scope = await people_in_scope(session, principal)
    found = await session.scalars(rows.order_by(HrLeave.first_day.desc(), HrLeave.id))
    return [leave_out(r) for r in found if scope is None or r.person_id in scope]


async def request_leave(session: AsyncSession, principal: Principal, body: LeaveIn) -> LeaveOut:
    """Record a leave request (state `requested`: it counts once approved)."""
    await check_person(session, principal, body.person_id)
    row = HrLeave(
        tenant_id=principal.tenant_id,
        id=secrets.token_hex(8),
        status="requested",
        requested_by=principal.actor,
        requested_at=utcnow(),
        decision_note="",
        **body.model_dump(),
    )
    session.add(row)
    return leave_out(row)


async def decide_leave(session: AsyncSession, principal: Principal, leave_id: str, body: DecisionIn) -> LeaveOut:
    """Approve or reject a requested leave (decided once)."""
    row = await session.get(HrLeave, (principal.tenant_id, leave_id))
    scope = await people_in_scope(session, principal)
    if row is None or (scope is not None and row.person_id not in scope):
        raise HrNotFound(f"no such leave request: {leave_id}")
    if row.status != "requested":
        raise HrConflict(f"the leave request is already {row.status}")
    row.status, row.decided_by, row.decided_at, row.decision_note = body.decision, principal.actor, utcnow(), body.note
    return leave_out(row)
