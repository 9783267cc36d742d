"""HQ portal pages of HR time: timesheets (submit, approve, reject, payroll CSV), leave, holidays and rosters.

Server-rendered like the attendance pages; every form goes through the same write path as the JSON API
(cloud/hr/schedule.py, cloud/hr/timesheets.py, the same audit names) and returns to its page (303), or shows the
page again with the error (400 bad form, 404 unknown id, 409 wrong state).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.db.models import Person
from cloud.hr import schedule, timesheets
from cloud.hr.errors import HrConflict, HrNotFound
from cloud.hr.models import HrShift
from cloud.hr.time_api import describe_leave, describe_sheet
from cloud.hr.time_models import DecisionIn, HolidayIn, HolidayQuery, LeaveIn, LeaveQuery, RosterIn, TimesheetQuery
from cloud.permissions import requires
from cloud.tenancy import scoped_sites

BASE = "/portal/hr"
M = TypeVar("M", bound=BaseModel)
Page = Callable[[web.Request, str, int], Awaitable[web.Response]]


def hours(minutes: int) -> str:
    """Minutes as H:MM."""
    return f"{minutes // 60}:{minutes % 60:02d}"


class FormError(Exception):
    """A posted form that does not validate (the message says which field)."""


async def _form(request: web.Request, model: type[M], names: tuple[str, ...]) -> M:
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in names}
    try:
        return model.model_validate({k: v for k, v in form.items() if v != ""})
    except ValidationError as err:
        raise FormError(format_validation_error(err, root="(form)")) from err


async def _post(request: web.Request, work: Callable[[], Awaitable[str]], page: Page) -> web.Response:
    """Run a form's `work` (it returns where to go next), or show the page again with the error."""
    try:
        location = await work()
    except FormError as err:
        return await page(request, str(err), 400)
    except HrNotFound as err:
        return await page(request, str(err), 404)
    except HrConflict as err:
        return await page(request, str(err), 409)
    return web.Response(status=303, headers={"Location": location})


def _render(request: web.Request, template: str, context: dict[str, Any], error: str, status: int) -> web.Response:
    context |= {"principal": require_principal(request), "error": error, "hours": hours}
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def _people_and_sites(request: web.Request) -> dict[str, Any]:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        people = list(
            await session.scalars(
                select(Person)
                .where(Person.tenant_id == principal.tenant_id, Person.removed_at.is_(None))
                .order_by(Person.name)
            )
        )
        sites = list(await session.scalars(scoped_sites(principal)))
        shifts = list(
            await session.scalars(select(HrShift).where(HrShift.tenant_id == principal.tenant_id).order_by(HrShift.id))
        )
    visible = {s.id for s in sites}
    return {
        "people": people,
        "names": {p.id: p.name for p in people},
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "shifts": [s for s in shifts if s.site_id in visible],
        "shift_names": {s.id: s.name for s in shifts},
    }


# --- timesheets ----------------------------------------------------------------------------------------------


def _default_start(period: str) -> str:
    today = datetime.now(UTC).date()
    start = today.replace(day=1) if period == "month" else today - timedelta(days=today.weekday())
    return start.isoformat()


def _timesheet_query(raw: Mapping[str, str]) -> tuple[TimesheetQuery, str]:
    values = {k: v for k, v in raw.items() if k in ("period", "start", "site") and v}
    values.setdefault("period", "week")
    values.setdefault("start", _default_start(values["period"]))
    try:
        return TimesheetQuery.model_validate(values), ""
    except ValidationError as err:
        fallback = TimesheetQuery.model_validate({"period": "week", "start": _default_start("week")})
        return fallback, format_validation_error(err, root="(query)")


async def _timesheets_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    query, bad_query = _timesheet_query(request.query)
    if bad_query:
        error, status = bad_query, 400
    async with request.app[DB]() as session:
        sites = list(await session.scalars(scoped_sites(principal)))
        if query.site is not None and query.site not in {s.id for s in sites}:
            error, status = f"no such site: {query.site}", 404
            query = query.model_copy(update={"site": None})
        sheets = await timesheets.timesheets(session, principal, query)
    link = f"period={query.period}&start={query.start.isoformat()}" + (f"&site={query.site}" if query.site else "")
    context = {"query": query, "sheets": sheets, "sites": sites, "link": link}
    return _render(request, "hr_timesheets.html", context, error, status)


@requires("hr.read")
async def handle_timesheets_page(request: web.Request) -> web.Response:
    """GET /portal/hr/timesheets?period=&start=&site=: everyone's timesheet for a week or a month."""
    return await _timesheets_page(request)


def _sheet_of(request: web.Request) -> tuple[str, TimesheetQuery]:
    values = {"period": request.match_info["period"], "start": request.match_info["start"]}
    try:
        return request.match_info["person_id"], TimesheetQuery.model_validate(values)
    except ValidationError as err:
        raise web.HTTPNotFound(text="no such period") from err


def _timesheets_location(query: TimesheetQuery) -> str:
    return f"{BASE}/timesheets?period={query.period}&start={query.start.isoformat()}"


@requires("hr.write")
async def handle_submit_form(request: web.Request) -> web.Response:
    """POST /portal/hr/timesheets/{person_id}/{period}/{start}/submit: submit a timesheet for approval."""
    principal = require_principal(request)
    person_id, query = _sheet_of(request)

    async def work() -> str:
        async with request.app[DB].begin() as session:
            out = await timesheets.submit(session, principal, person_id, query)
        describe_sheet(request, "submit", person_id, query, out)
        return _timesheets_location(query)

    return await _post(request, work, _timesheets_page)


@requires("hr.approve")
async def handle_decide_sheet_form(request: web.Request) -> web.Response:
    """POST /portal/hr/timesheets/{person_id}/{period}/{start}/decision: approve or reject a submitted timesheet."""
    principal = require_principal(request)
    person_id, query = _sheet_of(request)

    async def work() -> str:
        body = await _form(request, DecisionIn, ("decision", "note"))
        async with request.app[DB].begin() as session:
            out = await timesheets.decide(session, principal, person_id, query, body)
        describe_sheet(request, body.decision.removesuffix("d"), person_id, query, out, body.note)
        return _timesheets_location(query)

    return await _post(request, work, _timesheets_page)


# --- leave ---------------------------------------------------------------------------------------------------

LEAVE_FIELDS = ("person_id", "kind", "first_day", "last_day", "note")


async def _leave_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await schedule.list_leave(session, principal, LeaveQuery())
    context = await _people_and_sites(request) | {"leave": rows}
    return _render(request, "hr_leave.html", context, error, status)


@requires("hr.read")
async def handle_leave_page(request: web.Request) -> web.Response:
    """GET /portal/hr/leave: leave requests (request, approve, reject)."""
    return await _leave_page(request)


@requires("hr.write")
async def handle_leave_form(request: web.Request) -> web.Response:
    """POST /portal/hr/leave: request leave for a person."""
    principal = require_principal(request)

    async def work() -> str:
        body = await _form(request, LeaveIn, LEAVE_FIELDS)
        async with request.app[DB].begin() as session:
            out = await schedule.request_leave(session, principal, body)
        describe(request, "hr.leave.request", out.id, **body.model_dump(mode="json"))
        return f"{BASE}/leave"

    return await _post(request, work, _leave_page)


@requires("hr.approve")
async def handle_leave_decision_form(request: web.Request) -> web.Response:
    """POST /portal/hr/leave/{leave_id}/decision: approve or reject a leave request."""
    principal = require_principal(request)
    leave_id = request.match_info["leave_id"]

    async def work() -> str:
        body = await _form(request, DecisionIn, ("decision", "note"))
        async with request.app[DB].begin() as session:
            await schedule.decide_leave(session, principal, leave_id, body)
        describe_leave(request, leave_id, body)
        return f"{BASE}/leave"

    return await _post(request, work, _leave_page)


# --- holidays ------------------------------------------------------------------------------------------------


async def _holidays_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await schedule.list_holidays(session, principal, HolidayQuery())
    context = await _people_and_sites(request) | {"holidays": rows}
    return _render(request, "hr_holidays.html", context, error, status)


@requires("hr.read")
async def handle_holidays_page(request: web.Request) -> web.Response:
    """GET /portal/hr/holidays: public holidays per site."""
    return await _holidays_page(request)


class HolidayForm(HolidayIn):
    site_id: str
    day: date


@requires("hr.write")
async def handle_holiday_form(request: web.Request) -> web.Response:
    """POST /portal/hr/holidays: add (or rename) a site's public holiday."""
    principal = require_principal(request)

    async def work() -> str:
        form = await _form(request, HolidayForm, ("site_id", "day", "name"))
        async with request.app[DB].begin() as session:
            await schedule.put_holiday(session, principal, form.site_id, form.day, HolidayIn(name=form.name))
        describe(request, "hr.holiday.set", f"{form.site_id} {form.day.isoformat()}", name=form.name)
        return f"{BASE}/holidays"

    return await _post(request, work, _holidays_page)


@requires("hr.write")
async def handle_holiday_delete_form(request: web.Request) -> web.Response:
    """POST /portal/hr/holidays/{site_id}/{day}/delete: remove a public holiday."""
    principal = require_principal(request)
    site_id = request.match_info["site_id"]
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError as err:
        raise web.HTTPNotFound(text="no such day") from err

    async def work() -> str:
        async with request.app[DB].begin() as session:
            await schedule.delete_holiday(session, principal, site_id, day)
        describe(request, "hr.holiday.delete", f"{site_id} {day.isoformat()}")
        return f"{BASE}/holidays"

    return await _post(request, work, _holidays_page)


# --- rosters -------------------------------------------------------------------------------------------------


async def _rosters_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await schedule.list_rosters(session, principal)
    context = await _people_and_sites(request) | {"rosters": rows}
    return _render(request, "hr_rosters.html", context, error, status)


@requires("hr.read")
async def handle_rosters_page(request: web.Request) -> web.Response:
    """GET /portal/hr/rosters: who works which shift over which dates."""
    return await _rosters_page(request)


@requires("hr.write")
async def handle_roster_form(request: web.Request) -> web.Response:
    """POST /portal/hr/rosters: put a person on a shift over a date range."""
    principal = require_principal(request)

    async def work() -> str:
        body = await _form(request, RosterIn, ("person_id", "shift_id", "starts_on", "ends_on"))
        roster_id = f"r-{secrets.token_hex(6)}"
        async with request.app[DB].begin() as session:
            await schedule.put_roster(session, principal, roster_id, body)
        describe(request, "hr.roster.set", roster_id, **body.model_dump(mode="json"))
        return f"{BASE}/rosters"

    return await _post(request, work, _rosters_page)


@requires("hr.write")
async def handle_roster_delete_form(request: web.Request) -> web.Response:
    """POST /portal/hr/rosters/{roster_id}/delete: remove a roster entry."""
    principal = require_principal(request)
    roster_id = request.match_info["roster_id"]

    async def work() -> str:
        async with request.app[DB].begin() as session:
            await schedule.delete_roster(session, principal, roster_id)
        describe(request, "hr.roster.delete", roster_id)
        return f"{BASE}/rosters"

    return await _post(request, work, _rosters_page)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HR time pages."""
    router.add_get(f"{BASE}/timesheets", handle_timesheets_page)
    sheet = f"{BASE}/timesheets/{{person_id}}/{{period}}/{{start}}"
    router.add_post(f"{sheet}/submit", handle_submit_form)
    router.add_post(f"{sheet}/decision", handle_decide_sheet_form)
    router.add_get(f"{BASE}/leave", handle_leave_page)
    router.add_post(f"{BASE}/leave", handle_leave_form)
    router.add_post(f"{BASE}/leave/{{leave_id}}/decision", handle_leave_decision_form)
    router.add_get(f"{BASE}/holidays", handle_holidays_page)
    router.add_post(f"{BASE}/holidays", handle_holiday_form)
    router.add_post(f"{BASE}/holidays/{{site_id}}/{{day}}/delete", handle_holiday_delete_form)
    router.add_get(f"{BASE}/rosters", handle_rosters_page)
    router.add_post(f"{BASE}/rosters", handle_roster_form)
    router.add_post(f"{BASE}/rosters/{{roster_id}}/delete", handle_roster_delete_form)
