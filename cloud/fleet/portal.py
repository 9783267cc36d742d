"""HQ portal pages of the fleet: the vehicle register (with its add/edit form) and the gate log (times in the
site's local time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.fleet import register
from cloud.fleet.api_models import GateLogQuery, VehicleIn
from cloud.fleet.gatelog_load import day_span, load_log, log_out
from cloud.hr.attendance import zone_of
from cloud.permissions import requires
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import SiteNotFound, TenantScope, scoped_sites

VEHICLES_PATH = "/portal/fleet/vehicles"
GATE_LOG_PATH = "/portal/fleet/gate-log"
_VEHICLE_FIELDS = ("id", "plate", "name", "type", "home_site_id", "status", "in_service_from", "levels")


def local(at: datetime | None, zone: ZoneInfo) -> str:
    """A UTC instant as the site's local date and time ('' for none)."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at is not None else ""


def duration(minutes: int | None) -> str:
    """Minutes as h:mm ('' for unknown)."""
    return "" if minutes is None else f"{minutes // 60}:{minutes % 60:02d}"


async def _vehicles_page(
    request: web.Request, error: str = "", form: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    principal = require_principal(request)
    now = datetime.now(UTC)
    async with request.app[DB]() as session:
        vehicles = await register.vehicles(session, principal.tenant_id, now.date(), now)
        sites = list(await session.scalars(scoped_sites(principal)))
    context = {
        "principal": principal,
        "vehicles": vehicles,
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "error": error,
        "form": form or {"type": "van", "status": "active"},
        "alerts": sum(1 for v in vehicles for d in v.documents if d.status != "valid"),
    }
    return aiohttp_jinja2.render_template("fleet_vehicles.html", request, context, status=status)


@requires("fleet.read")
async def handle_vehicles_page(request: web.Request) -> web.Response:
    """GET /portal/fleet/vehicles: the register, document expiry and current drivers."""
    return await _vehicles_page(request)


@requires("fleet.write")
async def handle_vehicle_form(request: web.Request) -> web.Response:
    """POST /portal/fleet/vehicles: add or replace a vehicle (same write path as the API)."""
    principal = require_principal(request)
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in _VEHICLE_FIELDS}
    vehicle_id = form["id"]
    raw: dict[str, Any] = {k: v for k, v in form.items() if v and k not in ("id", "levels")}
    raw["levels"] = form["levels"].split()
    try:
        if register.SLUG_RE.fullmatch(vehicle_id) is None:
            raise ValueError("id: letters, digits and _.:- (up to 64)")
        body = VehicleIn.model_validate(raw)
    except ValidationError as err:
        return await _vehicles_page(request, format_validation_error(err, root="(form)"), form, 400)
    except ValueError as err:
        return await _vehicles_page(request, str(err), form, 400)
    try:
        async with request.app[DB].begin() as session:
            if body.home_site_id is not None:
                await TenantScope(session, principal).site(body.home_site_id)
            bumped = await register.save_vehicle(session, principal.tenant_id, vehicle_id, body)
    except SiteNotFound:
        return await _vehicles_page(request, f"no such site: {body.home_site_id}", form, 400)
    except register.PlateTaken as err:
        return await _vehicles_page(request, str(err), form, 409)
    request.app[NOTIFIER].notify(bumped)
    describe(request, "fleet.vehicle.put", vehicle_id, plate=body.plate, status=body.status)
    return web.Response(status=303, headers={"Location": VEHICLES_PATH})


@requires("fleet.read")
async def handle_gate_log_page(request: web.Request) -> web.Response:
    """GET /portal/fleet/gate-log?from=&to=&site=: visits (time on site) and every read with its match."""
    principal = require_principal(request)
    today = datetime.now(UTC).date()
    raw = {k: v for k, v in request.query.items() if v and k in ("from", "to", "site", "vehicle")}
    raw.setdefault("from", (today - timedelta(days=6)).isoformat())
    raw.setdefault("to", raw["from"] if "from" in request.query else today.isoformat())
    error = ""
    try:
        query = GateLogQuery.model_validate(raw)
    except ValidationError as err:
        query, error = (
            GateLogQuery.model_validate({"from": today, "to": today}),
            format_validation_error(err, root="(query)"),
        )
    async with request.app[DB]() as session:
        sites = list(await session.scalars(scoped_sites(principal)))
        if query.site is not None and query.site not in {s.id for s in sites}:
            query, error = GateLogQuery.model_validate({"from": query.from_, "to": query.to}), "no such site"
        start, end = day_span(query.from_, query.to)
        log = log_out(await load_log(session, principal, start, end, query.site), query.vehicle)
        plates = await register_names(session, principal.tenant_id)
    zones = {s.id: zone_of(s.timezone) for s in sites}
    utc = ZoneInfo("UTC")
    context = {
        "principal": principal,
        "query": query,
        "error": error,
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "names": plates,
        "visits": [
            {
                "v": v,
                "arrived": local(v.arrived, zones.get(v.site_id, utc)),
                "departed": local(v.departed, zones.get(v.site_id, utc)),
                "time": duration(v.minutes_on_site),
            }
            for v in log.visits
        ],
        "events": [{"e": e, "at": local(e.at, zones.get(e.site_id, utc))} for e in reversed(log.events)],
        "unknown": sum(1 for e in log.events if e.match in ("unknown", "ambiguous")),
        "csv": f"/api/v1/fleet/gate-log?from={query.from_.isoformat()}&to={query.to.isoformat()}"
        + (f"&site={query.site}" if query.site else "")
        + "&format=csv",
    }
    return aiohttp_jinja2.render_template("fleet_gate_log.html", request, context, status=400 if error else 200)


async def register_names(session: AsyncSession, tenant_id: str) -> dict[str, str]:
    """Vehicle id -> its name (or plate) for display."""
    now = datetime.now(UTC)
    return {v.id: v.name or v.plate for v in await register.vehicles(session, tenant_id, now.date(), now)}


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the fleet pages."""
    router.add_get(VEHICLES_PATH, handle_vehicles_page)
    router.add_post(VEHICLES_PATH, handle_vehicle_form)
    router.add_get(GATE_LOG_PATH, handle_gate_log_page)
