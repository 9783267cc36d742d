"""HQ portal pages of the fleet: the vehicle register (with its add/edit form), a vehicle's page (documents,
drivers, recent visits, with their forms) and the gate log (times in the site's local time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.db.models import Person, Site, new_slug
from cloud.fleet import register
from cloud.fleet.api_models import AssignmentIn, DocumentIn, GateIn, GateLogQuery, VehicleIn
from cloud.fleet.gatelog_load import day_span, load_log, log_out
from cloud.fleet.models import FleetGate, FleetVehicle
from cloud.hr.attendance import zone_of
from cloud.people import PersonNotFound
from cloud.permissions import requires
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import SiteNotFound, TenantScope, scoped_sites, tenant_people

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
    return await _gate_log_page(request)


async def _gate_log_page(request: web.Request, gate_error: str = "", status: int = 200) -> web.Response:
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
        gates = [
            g
            for g in await session.scalars(
                select(FleetGate)
                .where(FleetGate.tenant_id == principal.tenant_id)
                .order_by(FleetGate.site_id, FleetGate.door_id)
            )
            if principal.site_ids is None or g.site_id in principal.site_ids
        ]
    zones = {s.id: zone_of(s.timezone) for s in sites}
    utc = ZoneInfo("UTC")
    context = {
        "principal": principal,
        "query": query,
        "error": error,
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "names": plates,
        "gates": gates,
        "gate_error": gate_error,
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
    return aiohttp_jinja2.render_template(
        "fleet_gate_log.html", request, context, status=400 if error and status == 200 else status
    )


@requires("fleet.write")
async def handle_gate_form(request: web.Request) -> web.Response:
    """POST /portal/fleet/gates: mark a gate as arrivals (in), departures (out) or both ways."""
    principal = require_principal(request)
    posted = await request.post()
    site_id, door_id = str(posted.get("site_id", "")).strip(), str(posted.get("door_id", "")).strip()
    if register.SLUG_RE.fullmatch(door_id) is None:
        return await _gate_log_page(request, "gate: the door id of the vehicle gate (letters, digits, _.:-)", 400)
    try:
        body = GateIn.model_validate({"direction": str(posted.get("direction", ""))})
    except ValidationError as err:
        return await _gate_log_page(request, format_validation_error(err, root="(form)"), 400)
    async with request.app[DB].begin() as session:
        try:
            await TenantScope(session, principal).site(site_id)
        except SiteNotFound:
            return await _gate_log_page(request, f"no such site: {site_id}", 404)
        row = await session.get(FleetGate, (principal.tenant_id, site_id, door_id))
        if row is None:
            row = FleetGate(tenant_id=principal.tenant_id, site_id=site_id, door_id=door_id)
            session.add(row)
        row.direction = body.direction
    describe(request, "fleet.gate.put", f"{site_id}/{door_id}", direction=body.direction)
    return web.Response(status=303, headers={"Location": GATE_LOG_PATH})


async def register_names(session: AsyncSession, tenant_id: str) -> dict[str, str]:
    """Vehicle id -> its name (or plate) for display."""
    now = datetime.now(UTC)
    return {v.id: v.name or v.plate for v in await register.vehicles(session, tenant_id, now.date(), now)}


async def _vehicle_page(
    request: web.Request, error: str = "", form: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    principal = require_principal(request)
    vehicle_id = request.match_info["vehicle_id"]
    now = datetime.now(UTC)
    async with request.app[DB]() as session:
        found = [
            v for v in await register.vehicles(session, principal.tenant_id, now.date(), now) if v.id == vehicle_id
        ]
        if not found:
            raise web.HTTPNotFound(text="no such vehicle")
        vehicle = found[0]
        sites = list(await session.scalars(scoped_sites(principal)))
        drivers = await register.assignments(session, principal.tenant_id, vehicle_id)
        people = list(
            await session.scalars(
                tenant_people(principal.tenant_id).where(Person.removed_at.is_(None)).order_by(Person.name)
            )
        )
        start, end = day_span(now.date() - timedelta(days=13), now.date())
        visits = log_out(await load_log(session, principal, start, end), vehicle_id).visits
    zones = {s.id: zone_of(s.timezone) for s in sites}
    zone = zones.get(vehicle.home_site_id or "", ZoneInfo("UTC"))
    context = {
        "principal": principal,
        "vehicle": vehicle,
        "site_names": {s.id: s.name for s in sites},
        "zone": str(zone),
        "drivers": [{"a": a, "start": local(a.start, zone), "end": local(a.end, zone)} for a in reversed(drivers)],
        "people": people,
        "visits": [
            {
                "v": v,
                "arrived": local(v.arrived, zones.get(v.site_id, zone)),
                "departed": local(v.departed, zones.get(v.site_id, zone)),
                "time": duration(v.minutes_on_site),
            }
            for v in reversed(visits)
        ],
        "error": error,
        "form": form or {},
    }
    return aiohttp_jinja2.render_template("fleet_vehicle.html", request, context, status=status)


@requires("fleet.read")
async def handle_vehicle_page(request: web.Request) -> web.Response:
    """GET /portal/fleet/vehicles/{vehicle_id}: documents, driver assignments and the last two weeks' visits."""
    return await _vehicle_page(request)


async def _vehicle_zone(request: web.Request, vehicle_id: str) -> ZoneInfo:
    principal = require_principal(request)
    async with request.app[DB]() as session:
        row = await session.get(FleetVehicle, (principal.tenant_id, vehicle_id))
        if row is None:
            raise web.HTTPNotFound(text="no such vehicle")
        site = await session.get(Site, row.home_site_id) if row.home_site_id else None
    return zone_of(site.timezone if site is not None and site.tenant_id == principal.tenant_id else None)


@requires("fleet.write")
async def handle_document_form(request: web.Request) -> web.Response:
    """POST /portal/fleet/vehicles/{vehicle_id}/documents: set a document and its expiry."""
    principal = require_principal(request)
    vehicle_id = request.match_info["vehicle_id"]
    await _vehicle_zone(request, vehicle_id)
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in ("kind", "number", "expires_on", "alert_days")}
    if register.SLUG_RE.fullmatch(form["kind"]) is None:
        return await _vehicle_page(request, "kind: letters, digits and _.:- (e.g. insurance)", form, 400)
    try:
        body = DocumentIn.model_validate({k: v for k, v in form.items() if v and k != "kind"})
    except ValidationError as err:
        return await _vehicle_page(request, format_validation_error(err, root="(form)"), form, 400)
    async with request.app[DB].begin() as session:
        await register.save_document(session, principal.tenant_id, vehicle_id, form["kind"], body)
    describe(request, "fleet.document.put", f"{vehicle_id}/{form['kind']}", expires_on=body.expires_on.isoformat())
    return web.Response(status=303, headers={"Location": f"{VEHICLES_PATH}/{vehicle_id}"})


@requires("fleet.write")
async def handle_assignment_form(request: web.Request) -> web.Response:
    """POST /portal/fleet/vehicles/{vehicle_id}/assignments: a driver from a local date and time (the vehicle's home
    site), optionally until one; an overlap with another assignment is refused."""
    principal = require_principal(request)
    vehicle_id = request.match_info["vehicle_id"]
    zone = await _vehicle_zone(request, vehicle_id)
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in ("person_id", "start", "end")}
    try:
        times = {k: datetime.fromisoformat(form[k]).replace(tzinfo=zone) for k in ("start", "end") if form[k]}
        body = AssignmentIn.model_validate({"person_id": form["person_id"], **times})
    except ValidationError as err:
        return await _vehicle_page(request, format_validation_error(err, root="(form)"), form, 400)
    except ValueError:
        return await _vehicle_page(request, "start and end: a date and time", form, 400)
    assignment_id = new_slug()
    try:
        async with request.app[DB].begin() as session:
            await register.save_assignment(session, principal.tenant_id, vehicle_id, assignment_id, body)
    except PersonNotFound:
        return await _vehicle_page(request, "no such person", form, 404)
    except register.AssignmentOverlap as err:
        return await _vehicle_page(request, str(err), form, 409)
    describe(request, "fleet.assignment.put", f"{vehicle_id}/{assignment_id}", person_id=body.person_id)
    return web.Response(status=303, headers={"Location": f"{VEHICLES_PATH}/{vehicle_id}"})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the fleet pages."""
    router.add_get(VEHICLES_PATH, handle_vehicles_page)
    router.add_post(VEHICLES_PATH, handle_vehicle_form)
    router.add_get(f"{VEHICLES_PATH}/{{vehicle_id}}", handle_vehicle_page)
    router.add_post(f"{VEHICLES_PATH}/{{vehicle_id}}/documents", handle_document_form)
    router.add_post(f"{VEHICLES_PATH}/{{vehicle_id}}/assignments", handle_assignment_form)
    router.add_get(GATE_LOG_PATH, handle_gate_log_page)
    router.add_post("/portal/fleet/gates", handle_gate_form)
