"""Timesheets: a person's counted minutes over a week or a month, split into regular and overtime, and their
approval (draft -> submitted -> approved or rejected; a rejected one may be submitted again).

Totals are computed from attendance on read while a timesheet is a draft; submitting stores them, and the stored
totals are what payroll gets once approved (`changed_since_submitted` tells if the badges or corrections moved
since). The person who submitted a timesheet cannot approve or reject it.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Person, utcnow
from cloud.hr.attendance import DayInputs, load, person_day
from cloud.hr.errors import HrConflict, HrNotFound
from cloud.hr.models import HrOvertimeRule, HrTimesheet
from cloud.hr.overtime import DEFAULT_DAILY_MINUTES, DEFAULT_WEEKLY_MINUTES, split_overtime
from cloud.hr.time_models import DecisionIn, Period, TimesheetDayOut, TimesheetList, TimesheetOut, TimesheetQuery
from cloud.tenancy import Principal


def period_end(period: Period, start: date) -> date:
    """The last day of the period starting on `start`."""
    if period == "week":
        return start + timedelta(days=6)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


async def overtime_rule(session: AsyncSession, tenant_id: str) -> tuple[int, int]:
    """The tenant's (daily, weekly) overtime thresholds in minutes."""
    row = await session.get(HrOvertimeRule, tenant_id)
    return (row.daily_minutes, row.weekly_minutes) if row else (DEFAULT_DAILY_MINUTES, DEFAULT_WEEKLY_MINUTES)


def _live(inputs: DayInputs, person: Person, query: TimesheetQuery, rule: tuple[int, int]) -> TimesheetOut | None:
    end = period_end(query.period, query.start)
    days = [query.start + timedelta(days=n) for n in range((end - query.start).days + 1)]
    if query.site is not None and all(person_day(inputs, person, d, query.site) is None for d in days):
        return None
    computed = {d: person_day(inputs, person, d) for d in days}
    if all(v is None for v in computed.values()):
        return None
    counted = {d: v.counted_minutes if v else 0 for d, v in computed.items()}
    split = split_overtime(counted, *rule)
    profile = inputs.profiles.get(person.id)
    present = [v for v in computed.values() if v is not None]
    return TimesheetOut(
        person_id=person.id,
        name=person.name,
        department=profile.department if profile else None,
        period=query.period,
        start=query.start,
        end=end,
        status="draft",
        counted_minutes=split.counted,
        regular_minutes=split.regular,
        overtime_minutes=split.overtime,
        leave_days=sum(1 for v in present if v.status == "leave"),
        holiday_days=sum(1 for v in present if v.status == "holiday"),
        incomplete_days=sum(1 for v in present if v.status == "incomplete" and v.correction is None),
        changed_since_submitted=False,
        days=[
            TimesheetDayOut(
                day=d,
                status=v.status if v else "off",
                counted_minutes=counted[d],
                overtime_minutes=split.daily_overtime[d],
                holiday=v.holiday if v else None,
                leave=v.leave if v else None,
            )
            for d, v in computed.items()
        ],
    )


_TOTALS = ("counted_minutes", "regular_minutes", "overtime_minutes", "leave_days", "holiday_days")


def _with_stored(live: TimesheetOut, row: HrTimesheet | None) -> TimesheetOut:
    if row is None:
        return live
    stored = {name: getattr(row, name) for name in _TOTALS}
    return live.model_copy(
        update={
            **stored,
            "status": row.status,
            "changed_since_submitted": any(getattr(live, n) != v for n, v in stored.items()),
            "submitted_by": row.submitted_by,
            "submitted_at": row.submitted_at,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
            "decision_note": row.decision_note,
        }
    )


async def timesheets(
    session: AsyncSession, principal: Principal, query: TimesheetQuery, person_id: str | None = None
) -> TimesheetList:
    """Every visible person's timesheet for the period (or only `person_id`'s)."""
    end = period_end(query.period, query.start)
    rule = await overtime_rule(session, principal.tenant_id)
    inputs = await load(session, principal, query.start, end)
    stored_query = select(HrTimesheet).where(
        HrTimesheet.tenant_id == principal.tenant_id,
        HrTimesheet.period == query.period,
        HrTimesheet.starts_on == query.start,
    )
    stored = {row.person_id: row for row in await session.scalars(stored_query)}
    out: list[TimesheetOut] = []
    for person in inputs.people:
        if person_id is not None and person.id != person_id:
            continue
        live = _live(inputs, person, query, rule)
        if live is not None:
            out.append(_with_stored(live, stored.get(person.id)))
    return TimesheetList(
        period=query.period,
        start=query.start,
        end=end,
        daily_minutes=rule[0],
        weekly_minutes=rule[1],
        timesheets=out,
    )


async def _one(session: AsyncSession, principal: Principal, person_id: str, query: TimesheetQuery) -> TimesheetOut:
    found = (await timesheets(session, principal, query, person_id)).timesheets
    if not found:
        raise HrNotFound(f"no timesheet for {person_id} at your sites")
    return found[0]


async def submit(session: AsyncSession, principal: Principal, person_id: str, query: TimesheetQuery) -> TimesheetOut:
    """Submit a draft (or rejected) timesheet: its live totals are stored for approval."""
    sheet = await _one(session, principal, person_id, query)
    key = (principal.tenant_id, person_id, query.period, query.start)
    row = await session.get(HrTimesheet, key)
    if row is not None and row.status != "rejected":
        raise HrConflict(f"the timesheet is {row.status}; only a draft or rejected one can be submitted")
    if row is None:
        row = HrTimesheet(tenant_id=key[0], person_id=key[1], period=key[2], starts_on=key[3])
        session.add(row)
    for name in _TOTALS:
        setattr(row, name, getattr(sheet, name))
    row.status, row.submitted_by, row.submitted_at = "submitted", principal.actor, utcnow()
    row.decided_by, row.decided_at, row.decision_note = None, None, ""
    return _with_stored(sheet, row)


async def decide(
    session: AsyncSession, principal: Principal, person_id: str, query: TimesheetQuery, body: DecisionIn
) -> TimesheetOut:
    """Approve or reject a submitted timesheet (not by the person who submitted it)."""
    sheet = await _one(session, principal, person_id, query)
    row = await session.get(HrTimesheet, (principal.tenant_id, person_id, query.period, query.start))
    if row is None or row.status != "submitted":
        raise HrConflict(f"the timesheet is {row.status if row else 'draft'}; only a submitted one is decided")
    if row.submitted_by == principal.actor:
        raise HrConflict("the person who submitted a timesheet cannot approve or reject it")
    row.status, row.decided_by, row.decided_at, row.decision_note = body.decision, principal.actor, utcnow(), body.note
    return _with_stored(sheet, row)
