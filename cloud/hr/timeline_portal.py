"""HQ portal page of HR: one person's attendance timeline (a row per day, the time on site as bars on a 24 h axis
in the site's local time), linked from the day grid and the person-day page."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from cloud import people
from cloud.appkeys import DB
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.hr import timeline
from cloud.hr.api_models import TimelineDayOut, TimelineOut
from cloud.hr.portal import ATTENDANCE_PATH, _clock, _hours
from cloud.permissions import requires
from cloud.tenancy import scoped_sites

_DAY_SECONDS = 24 * 3600


def _pct(at: datetime, midnight: datetime) -> float:
    """Where `at` falls on the day's 24 h axis, in percent, clipped to the day."""
    return min(100.0, max(0.0, (at - midnight).total_seconds() / _DAY_SECONDS * 100))


def _span(start: datetime, end: datetime, midnight: datetime, zone: ZoneInfo) -> dict[str, Any]:
    left, right = _pct(start, midnight), _pct(end, midnight)
    spills = (end - midnight).total_seconds() > _DAY_SECONDS
    label = f"{_clock(start, zone)}-{_clock(end, zone)}{' (+1)' if spills else ''}"
    return {"left": f"{left:.2f}", "width": f"{max(right - left, 0.4):.2f}", "label": label, "spills": spills}


def _row(d: TimelineDayOut, zone: ZoneInfo) -> dict[str, Any]:
    midnight = datetime.combine(d.day, time(0), zone)
    shift = None
    if d.scheduled_start is not None and d.scheduled_end is not None:
        shift = _span(d.scheduled_start, d.scheduled_end, midnight, zone)
    missing = [
        {
            "left": f"{_pct(m.at, midnight):.2f}",
            "label": f"no {'exit' if m.missing == 'out' else 'entry'} for {_clock(m.at, zone)}",
        }
        for m in d.missing_punches
    ]
    return {
        "day": d,
        "weekday": d.day.strftime("%a"),
        "shift": shift,
        "bars": [_span(i.start, i.end, midnight, zone) for i in d.intervals],
        "missing": missing,
        "worked": _hours(d.worked_minutes) or "0:00",
        "counted": _hours(d.counted_minutes) or "0:00",
    }


def _zone(out: TimelineOut, zones: dict[str, ZoneInfo]) -> ZoneInfo:
    """The axis' time zone: the first site the person was seen at, else the principal's first site, else UTC."""
    seen = [zones[s] for d in out.days for s in d.sites if s in zones]
    return (seen or list(zones.values()) or [ZoneInfo("UTC")])[0]


@requires("hr.read")
async def handle_timeline_page(request: web.Request) -> web.Response:
    """GET /portal/attendance/{person_id}?start=&end=: the person's days (default the last 14, at most 62)."""
    principal = require_principal(request)
    person_id = request.match_info["person_id"]
    error = ""
    try:
        query = timeline.parse_query(request.query)
    except ValidationError as err:
        query, error = timeline.parse_query({}), format_validation_error(err, root="(query)")
    async with request.app[DB]() as session:
        try:
            await people.find_person(session, principal.tenant_id, person_id)
        except people.PersonNotFound as err:
            raise web.HTTPNotFound(text="no such person") from err
        found = await timeline.person_timeline(session, principal, person_id, query)
        sites = {s.id: s.name for s in await session.scalars(scoped_sites(principal))}
    if found is None:
        raise web.HTTPNotFound(text="no such person at your sites")
    out, zones = found
    zone = _zone(out, zones)
    rows = [_row(d, zone) for d in out.days]
    context = {
        "principal": principal,
        "out": out,
        "query": query,
        "error": error,
        "zone": str(zone),
        "rows": rows,
        "site_names": sites,
        "hours": list(range(0, 25, 6)),
        "totals": {
            "counted": _hours(sum(d.counted_minutes for d in out.days)) or "0:00",
            "present": sum(1 for d in out.days if d.status == "present"),
            "late": sum(1 for d in out.days if d.late_minutes),
            "incomplete": sum(1 for d in out.days if d.status == "incomplete"),
            "absent": sum(1 for d in out.days if d.status == "absent"),
        },
        "csv": f"/api/v1/hr/people/{person_id}/timeline?start={query.start.isoformat()}"
        f"&end={query.end.isoformat()}&format=csv",
    }
    return aiohttp_jinja2.render_template("hr_timeline.html", request, context, status=400 if error else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the timeline page."""
    router.add_get(f"{ATTENDANCE_PATH}/{{person_id}}", handle_timeline_page)
