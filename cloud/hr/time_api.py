"""The HR time JSON API: rosters, public holidays, leave requests, overtime rules and timesheets (+ CSV).

Reads need `hr.read`, edits `hr.write`, decisions on leave and timesheets `hr.approve` (cloud/permissions.py).
The writes go through cloud/hr/schedule.py and cloud/hr/timesheets.py, shared with the portal pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.analytics.api import csv_response
from cloud.api_inputs import BadBody, body_of, key_of, wants_csv
from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.hr import schedule, timesheets
from cloud.hr.api import BASE
from cloud.hr.errors import HrConflict, HrNotFound
from cloud.hr.models import HrOvertimeRule
from cloud.hr.time_models import (
    DecisionIn,
    HolidayIn,
    HolidayList,
    HolidayOut,
    HolidayQuery,
    LeaveIn,
    LeaveList,
    LeaveOut,
    LeaveQuery,
    OvertimeRuleIn,
    RosterIn,
    RosterList,
    RosterOut,
    TimesheetList,
    TimesheetOut,
    TimesheetQuery,
)
from cloud.hr.time_rows import TimesheetRow, timesheet_rows
from cloud.openapi import documented
from cloud.permissions import requires
from cloud.responses import api_error, error_response, json_model
from cloud.tenancy import Principal

Q = TypeVar("Q", bound=BaseModel)
WITH_CONFLICT = (400, 401, 403, 404, 409)


def parse_query(request: web.Request, model: type[Q], extra: dict[str, str] | None = None) -> Q:
    """The request's query as `model` (`format` aside), or raise 400 `bad_query`."""
    query = {k: v for k, v in request.query.items() if k != "format"} | (extra or {})
    try:
        return model.model_validate(query)
    except ValidationError as err:
        raise api_error(web.HTTPBadRequest, "bad_query", format_validation_error(err, root="(query)")) from err


def _day(request: web.Request, name: str = "day") -> date:
    try:
        return date.fromisoformat(request.match_info[name])
    except ValueError as err:
        raise api_error(web.HTTPNotFound, "not_found", f"no such {name} (YYYY-MM-DD)") from err


async def _guarded(work: Callable[[], Awaitable[web.Response]]) -> web.Response:
    """Run `work`, answering the HR errors 400 (bad body), 404 and 409."""
    try:
        return await work()
    except BadBody as bad:
        return bad.response
    except HrNotFound as err:
        return error_response(404, "not_found", str(err))
    except HrConflict as err:
        return error_response(409, "conflict", str(err))


@requires("hr.read")
@documented(RosterList, csv=True)
async def handle_rosters(request: web.Request) -> web.Response:
    """GET /api/v1/hr/rosters[?format=csv]: who works which shift over which dates."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await schedule.list_rosters(session, principal)
    if wants_csv(request):
        return csv_response(rows, RosterOut, "rosters")
    return json_model(RosterList(rosters=rows))


@requires("hr.write")
@documented(RosterOut, request=RosterIn)
async def handle_put_roster(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/rosters/{roster_id}: assign a person to a shift from one date to another (inclusive)."""
    principal = require_principal(request)
    roster_id = key_of(request, "roster_id")

    async def work() -> web.Response:
        body = await body_of(request, RosterIn)
        async with request.app[DB].begin() as session:
            out = await schedule.put_roster(session, principal, roster_id, body)
        describe(request, "hr.roster.set", roster_id, **body.model_dump(mode="json"))
        return json_model(out)

    return await _guarded(work)


@requires("hr.write")
@documented(RosterOut)
async def handle_delete_roster(request: web.Request) -> web.Response:
    """DELETE /api/v1/hr/rosters/{roster_id}: remove a roster entry."""
    principal = require_principal(request)
    roster_id = key_of(request, "roster_id")

    async def work() -> web.Response:
        async with request.app[DB].begin() as session:
            out = await schedule.delete_roster(session, principal, roster_id)
        describe(request, "hr.roster.delete", roster_id)
        return json_model(out)

    return await _guarded(work)


@requires("hr.read")
@documented(HolidayList, query=HolidayQuery, csv=True)
async def handle_holidays(request: web.Request) -> web.Response:
    """GET /api/v1/hr/holidays[?year=][&site=][&format=csv]: the public holidays of your sites."""
    principal = require_principal(request)
    query = parse_query(request, HolidayQuery)
    async with request.app[DB]() as session:
        rows = await schedule.list_holidays(session, principal, query)
    if wants_csv(request):
        return csv_response(rows, HolidayOut, "holidays")
    return json_model(HolidayList(holidays=rows))


@requires("hr.write")
@documented(HolidayOut, request=HolidayIn)
async def handle_put_holiday(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/sites/{site_id}/holidays/{day}: a public holiday at the site (local calendar day)."""
    principal = require_principal(request)
    site_id, day = key_of(request, "site_id"), _day(request)

    async def work() -> web.Response:
        body = await body_of(request, HolidayIn)
        async with request.app[DB].begin() as session:
            out = await schedule.put_holiday(session, principal, site_id, day, body)
        describe(request, "hr.holiday.set", f"{site_id} {day.isoformat()}", name=body.name)
        return json_model(out)

    return await _guarded(work)


@requires("hr.write")
@documented(HolidayOut)
async def handle_delete_holiday(request: web.Request) -> web.Response:
    """DELETE /api/v1/hr/sites/{site_id}/holidays/{day}: remove a public holiday."""
    principal = require_principal(request)
    site_id, day = key_of(request, "site_id"), _day(request)

    async def work() -> web.Response:
        async with request.app[DB].begin() as session:
            out = await schedule.delete_holiday(session, principal, site_id, day)
        describe(request, "hr.holiday.delete", f"{site_id} {day.isoformat()}")
        return json_model(out)

    return await _guarded(work)


@requires("hr.read")
@documented(LeaveList, query=LeaveQuery, csv=True)
async def handle_leave(request: web.Request) -> web.Response:
    """GET /api/v1/hr/leave[?status=][&person=][&format=csv]: leave requests."""
    principal = require_principal(request)
    query = parse_query(request, LeaveQuery)
    async with request.app[DB]() as session:
        rows = await schedule.list_leave(session, principal, query)
    if wants_csv(request):
        return csv_response(rows, LeaveOut, "leave")
    return json_model(LeaveList(leave=rows))


@requires("hr.write")
@documented(LeaveOut, request=LeaveIn, status=201)
async def handle_request_leave(request: web.Request) -> web.Response:
    """POST /api/v1/hr/leave: request leave for a person (counts once approved)."""
    principal = require_principal(request)

    async def work() -> web.Response:
        body = await body_of(request, LeaveIn)
        async with request.app[DB].begin() as session:
            out = await schedule.request_leave(session, principal, body)
        describe(request, "hr.leave.request", out.id, **body.model_dump(mode="json"))
        return json_model(out, status=201)

    return await _guarded(work)


@requires("hr.approve")
@documented(LeaveOut, request=DecisionIn, errors=WITH_CONFLICT)
async def handle_decide_leave(request: web.Request) -> web.Response:
    """POST /api/v1/hr/leave/{leave_id}/decision: approve or reject a leave request (once)."""
    principal = require_principal(request)
    leave_id = key_of(request, "leave_id")

    async def work() -> web.Response:
        body = await body_of(request, DecisionIn)
        async with request.app[DB].begin() as session:
            out = await schedule.decide_leave(session, principal, leave_id, body)
        describe_leave(request, leave_id, body)
        return json_model(out)

    return await _guarded(work)


def describe_leave(request: web.Request, leave_id: str, body: DecisionIn) -> None:
    """Name a leave decision (`hr.leave.approve` or `hr.leave.reject`) in the audit log."""
    describe(request, f"hr.leave.{body.decision.removesuffix('d')}", leave_id, note=body.note)


@requires("hr.read")
@documented(OvertimeRuleIn)
async def handle_overtime(request: web.Request) -> web.Response:
    """GET /api/v1/hr/overtime: the daily and weekly overtime thresholds (minutes)."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        daily, weekly = await timesheets.overtime_rule(session, principal.tenant_id)
    return json_model(OvertimeRuleIn(daily_minutes=daily, weekly_minutes=weekly))


@requires("hr.write")
@documented(OvertimeRuleIn, request=OvertimeRuleIn)
async def handle_put_overtime(request: web.Request) -> web.Response:
    """PUT /api/v1/hr/overtime: set the daily and weekly overtime thresholds (minutes)."""
    principal = require_principal(request)

    async def work() -> web.Response:
        body = await body_of(request, OvertimeRuleIn)
        async with request.app[DB].begin() as session:
            row = await session.get(HrOvertimeRule, principal.tenant_id)
            if row is None:
                row = HrOvertimeRule(tenant_id=principal.tenant_id)
                session.add(row)
            row.daily_minutes, row.weekly_minutes = body.daily_minutes, body.weekly_minutes
        describe(request, "hr.overtime.set", principal.tenant_id, **body.model_dump())
        return json_model(body)

    return await _guarded(work)


@requires("hr.read")
@documented(TimesheetList, query=TimesheetQuery, csv=True)
async def handle_timesheets(request: web.Request) -> web.Response:
    """GET /api/v1/hr/timesheets?period=week|month&start=YYYY-MM-DD[&site=][&format=csv]: everyone's timesheet
    for the period; the CSV is the payroll-hours export."""
    principal = require_principal(request)
    query = parse_query(request, TimesheetQuery)
    async with request.app[DB]() as session:
        await _check_site_query(session, principal, query.site)
        sheets = await timesheets.timesheets(session, principal, query)
    if wants_csv(request):
        return csv_response(timesheet_rows(sheets), TimesheetRow, f"payroll-{query.period}-{query.start}")
    return json_model(sheets)


async def _check_site_query(session: AsyncSession, principal: Principal, site_id: str | None) -> None:
    if site_id is not None:
        try:
            await schedule.check_site(session, principal, site_id)
        except HrNotFound as err:
            raise api_error(web.HTTPNotFound, "not_found", str(err)) from err


def _sheet_query(request: web.Request) -> TimesheetQuery:
    period, start = request.match_info["period"], request.match_info["start"]
    try:
        return TimesheetQuery.model_validate({"period": period, "start": start})
    except ValidationError as err:
        raise api_error(
            web.HTTPNotFound, "not_found", "no such period (week from a Monday, month from the 1st)"
        ) from err


@requires("hr.read")
@documented(TimesheetOut)
async def handle_timesheet(request: web.Request) -> web.Response:
    """GET /api/v1/hr/people/{person_id}/timesheets/{period}/{start}: one timesheet with its days."""
    principal = require_principal(request)
    person_id, query = key_of(request, "person_id"), _sheet_query(request)

    async def work() -> web.Response:
        async with request.app[DB]() as session:
            found = (await timesheets.timesheets(session, principal, query, person_id)).timesheets
        if not found:
            raise HrNotFound(f"no timesheet for {person_id} at your sites")
        return json_model(found[0])

    return await _guarded(work)


@requires("hr.write")
@documented(TimesheetOut, errors=WITH_CONFLICT)
async def handle_submit_timesheet(request: web.Request) -> web.Response:
    """POST /api/v1/hr/people/{person_id}/timesheets/{period}/{start}/submit: submit for approval (totals stored)."""
    principal = require_principal(request)
    person_id, query = key_of(request, "person_id"), _sheet_query(request)

    async def work() -> web.Response:
        async with request.app[DB].begin() as session:
            out = await timesheets.submit(session, principal, person_id, query)
        describe_sheet(request, "submit", person_id, query, out)
        return json_model(out)

    return await _guarded(work)


@requires("hr.approve")
@documented(TimesheetOut, request=DecisionIn, errors=WITH_CONFLICT)
async def handle_decide_timesheet(request: web.Request) -> web.Response:
    """POST /api/v1/hr/people/{person_id}/timesheets/{period}/{start}/decision: approve or reject a submitted
    timesheet (not by its submitter)."""
    principal = require_principal(request)
    person_id, query = key_of(request, "person_id"), _sheet_query(request)

    async def work() -> web.Response:
        body = await body_of(request, DecisionIn)
        async with request.app[DB].begin() as session:
            out = await timesheets.decide(session, principal, person_id, query, body)
        describe_sheet(request, body.decision.removesuffix("d"), person_id, query, out, body.note)
        return json_model(out)

    return await _guarded(work)


def describe_sheet(
    request: web.Request, step: str, person_id: str, query: TimesheetQuery, sheet: TimesheetOut, note: str = ""
) -> None:
    """Name a timesheet step (`submit`, `approve`, `reject`) in the audit log, with the totals it concerned."""
    describe(
        request,
        f"hr.timesheet.{step}",
        f"{person_id} {query.period} {query.start.isoformat()}",
        counted_minutes=sheet.counted_minutes,
        overtime_minutes=sheet.overtime_minutes,
        note=note,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HR time API."""
    router.add_get(f"{BASE}/rosters", handle_rosters)
    router.add_put(f"{BASE}/rosters/{{roster_id}}", handle_put_roster)
    router.add_delete(f"{BASE}/rosters/{{roster_id}}", handle_delete_roster)
    router.add_get(f"{BASE}/holidays", handle_holidays)
    router.add_put(f"{BASE}/sites/{{site_id}}/holidays/{{day}}", handle_put_holiday)
    router.add_delete(f"{BASE}/sites/{{site_id}}/holidays/{{day}}", handle_delete_holiday)
    router.add_get(f"{BASE}/leave", handle_leave)
    router.add_post(f"{BASE}/leave", handle_request_leave)
    router.add_post(f"{BASE}/leave/{{leave_id}}/decision", handle_decide_leave)
    router.add_get(f"{BASE}/overtime", handle_overtime)
    router.add_put(f"{BASE}/overtime", handle_put_overtime)
    router.add_get(f"{BASE}/timesheets", handle_timesheets)
    sheet = f"{BASE}/people/{{person_id}}/timesheets/{{period}}/{{start}}"
    router.add_get(sheet, handle_timesheet)
    router.add_post(f"{sheet}/submit", handle_submit_timesheet)
    router.add_post(f"{sheet}/decision", handle_decide_timesheet)
