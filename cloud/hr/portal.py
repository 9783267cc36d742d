"""HQ portal page of HR: the attendance day grid (everyone's day at a glance, times in the site's local time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.hr import attendance
from cloud.hr.api_models import AttendanceQuery, PersonDayOut
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
        "counts": {s: sum(1 for d in days if d.status == s) for s in ("present", "incomplete", "absent", "off")},
        "csv": f"/api/v1/hr/attendance?day={query.day.isoformat()}"
        + (f"&site={query.site}" if query.site else "")
        + "&format=csv",
    }
    return aiohttp_jinja2.render_template("hr_attendance.html", request, context, status=400 if error else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the HR pages."""
    router.add_get(ATTENDANCE_PATH, handle_attendance_page)
