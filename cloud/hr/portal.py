"""HQ portal page of HR: the attendance day grid (everyone's day at a glance, times in the site's local time)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from cloud import people
from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.hr import attendance
from cloud.hr.api_models import AttendanceQuery, CorrectionIn, PersonDayOut
from cloud.permissions import requires
from cloud.tenancy import SiteNotFound, TenantScope, scoped_sites

ATTENDANCE_PATH = "/portal/attendance"


def _clock(at: datetime | None, zone: Any) -> str:
    return at.astimezone(zone).strftime("%H:%M") if at is not None else ""


def _hours(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}" if minutes else ""


def _row(day: PersonDayOut, zones: dict[str, Any]) -> dict[str, Any]:
    zone = zones.get(day.sites[0]) if day.sites else None
    zone = zone or UTC
    missing = [f"no {'exit' if m.missing == 'out' else 'entry'} for {_clock(m.at, zone)}" for m in day.missing_punches]
    return {
        "day": day,
        "first_in": _clock(day.first_in, zone),
        "last_out": _clock(day.last_out, zone),
        "worked": _hours(day.worked_minutes),
        "counted": _hours(day.counted_minutes),
        "breaks": _hours(day.break_minutes),
        "missing": "; ".join(missing),
    }


@requires("hr.read")
async def handle_attendance_page(request: web.Request) -> web.Response:
    """GET /portal/attendance?day=&site=: the attendance day grid."""
    principal = require_principal(request)
    raw = {k: v for k, v in request.query.items() if v}
    raw.setdefault("day", datetime.now(UTC).date().isoformat())
    error = ""
    try:
        query = AttendanceQuery.model_validate(raw)
    except ValidationError as err:
        query, error = AttendanceQuery(day=datetime.now(UTC).date()), format_validation_error(err, root="(query)")
    async with request.app[DB]() as session:
        sites = list(await session.scalars(scoped_sites(principal)))
        if query.site is not None:
            try:
                await TenantScope(session, principal).site(query.site)
            except SiteNotFound:
                query, error = AttendanceQuery(day=query.day), f"no such site: {query.site}"
        inputs = await attendance.load(session, principal, query.day)
    days = attendance.compute(inputs, query.day, query.site)
    context = {
        "principal": principal,
        "query": query,
        "error": error,
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "rows": [_row(d, inputs.zones) for d in days],
        "counts": {
            s: sum(1 for d in days if d.status == s)
            for s in ("present", "incomplete", "absent", "off", "holiday", "leave")
        },
        "csv": f"/api/v1/hr/attendance?day={query.day.isoformat()}"
        + (f"&site={query.site}" if query.site else "")
        + "&format=csv",
    }
    return aiohttp_jinja2.render_template("hr_attendance.html", request, context, status=400 if error else 200)


def _day_of(request: web.Request) -> tuple[str, date]:
    person_id = request.match_info["person_id"]
    try:
        return person_id, date.fromisoformat(request.match_info["day"])
    except ValueError as err:
        raise web.HTTPNotFound(text="no such day") from err


async def _person_day_page(
    request: web.Request, person_id: str, day: date, error: str = "", form: dict[str, str] | None = None
) -> web.Response:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        inputs = await attendance.load(session, principal, day)
        sites = {s.id: s.name for s in await session.scalars(scoped_sites(principal))}
    found = [d for d in attendance.compute(inputs, day) if d.person_id == person_id]
    if not found:
        raise web.HTTPNotFound(text="no such person at your sites")
    row = _row(found[0], inputs.zones)
    zone = inputs.zones.get(found[0].sites[0]) if found[0].sites else None
    intervals = [
        {
            "site": sites.get(i.site_id, i.site_id),
            "start": _clock(i.start, zone or UTC),
            "end": _clock(i.end, zone or UTC),
        }
        for i in found[0].intervals
    ]
    correction = found[0].correction
    defaults = {
        "worked_minutes": str(correction.worked_minutes if correction else found[0].worked_minutes),
        "reason": correction.reason if correction else "",
    }
    context = {
        "principal": principal,
        "row": row,
        "day": day,
        "intervals": intervals,
        "error": error,
        "form": form or defaults,
    }
    return aiohttp_jinja2.render_template("hr_person_day.html", request, context, status=400 if error else 200)


@requires("hr.read")
async def handle_person_day_page(request: web.Request) -> web.Response:
    """GET /portal/attendance/{person_id}/{day}: one person's day (pairs, missing punches) and the correction form."""
    person_id, day = _day_of(request)
    return await _person_day_page(request, person_id, day)


@requires("hr.write")
async def handle_correction_form(request: web.Request) -> web.Response:
    """POST /portal/attendance/{person_id}/{day}: HR's correction (minutes and reason), back to the day grid."""
    principal = require_principal(request)
    person_id, day = _day_of(request)
    posted = await request.post()
    form = {name: str(posted.get(name, "")) for name in ("worked_minutes", "reason")}
    try:
        body = CorrectionIn.model_validate(form)
    except ValidationError as err:
        return await _person_day_page(request, person_id, day, format_validation_error(err, root="(form)"), form)
    async with request.app[DB].begin() as session:
        try:
            await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound as err:
            raise web.HTTPNotFound(text="no such person") from err
        _, before = await attendance.correct(session, principal, person_id, day, body)
    attendance.describe_correction(request, person_id, day, body, before)
    return web.Response(status=303, headers={"Location": f"{ATTENDANCE_PATH}?day={day.isoformat()}"})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HR pages."""
    router.add_get(ATTENDANCE_PATH, handle_attendance_page)
    router.add_get(f"{ATTENDANCE_PATH}/{{person_id}}/{{day}}", handle_person_day_page)
    router.add_post(f"{ATTENDANCE_PATH}/{{person_id}}/{{day}}", handle_correction_form)
