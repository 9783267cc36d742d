"""The fleet JSON API, part 1: the vehicle register (documents, driver assignments), gate directions and the gate
log, each with a CSV export.

Reads need `fleet.read`, edits `fleet.write` (cloud/permissions.py; the `fleet` role has both). A vehicle edit
bumps every site's configuration version, so the boxes get the register's plates for their vehicle gates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.analytics.api import csv_response
from cloud.api_inputs import KEY, BadBody, body_of, check_site, key_of, wants_csv
from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.fleet import register
from cloud.fleet.api_models import (
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    DocumentIn,
    DocumentList,
    DocumentOut,
    GateIn,
    GateList,
    GateLogOut,
    GateLogQuery,
    GateOut,
    VehicleIn,
    VehicleList,
    VehicleOut,
)
from cloud.fleet.csv_rows import AssignmentRow, DocumentRow, GateEventRow, VehicleRow, VisitRow
from cloud.fleet.gatelog_load import day_span, load_log, log_out
from cloud.fleet.models import FleetGate, FleetVehicle
from cloud.openapi import documented
from cloud.people import PersonNotFound
from cloud.permissions import requires
from cloud.responses import api_error, error_response, json_model
from cloud.siteconfig import NOTIFIER
from cloud.tenancy import Principal

BASE = "/api/v1/fleet"


async def find_vehicle(session: AsyncSession, principal: Principal, vehicle_id: str) -> FleetVehicle:
    """The tenant's vehicle, or 404."""
    row = await session.get(FleetVehicle, (principal.tenant_id, vehicle_id))
    if row is None:
        raise api_error(web.HTTPNotFound, "not_found", f"no such vehicle: {vehicle_id}")
    return row


def now_utc() -> datetime:
    return datetime.now(UTC)


@requires("fleet.read")
@documented(VehicleList, csv=True)
async def handle_vehicles(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/vehicles[?format=csv]: the register with documents and current drivers."""
    principal = require_principal(request)
    now = now_utc()
    async with request.app[DB]() as session:
        rows = await register.vehicles(session, principal.tenant_id, now.date(), now)
    if wants_csv(request):
        return csv_response([VehicleRow.of(v) for v in rows], VehicleRow, "vehicles")
    return json_model(VehicleList(vehicles=rows))


@requires("fleet.read")
@documented(VehicleOut)
async def handle_get_vehicle(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/vehicles/{vehicle_id}: one vehicle with its documents and current driver."""
    principal = require_principal(request)
    vehicle_id = key_of(request, "vehicle_id")
    now = now_utc()
    async with request.app[DB]() as session:
        await find_vehicle(session, principal, vehicle_id)
        rows = await register.vehicles(session, principal.tenant_id, now.date(), now)
    return json_model(next(v for v in rows if v.id == vehicle_id))


@requires("fleet.write")
@documented(VehicleOut, request=VehicleIn)
async def handle_put_vehicle(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/vehicles/{vehicle_id}: create or replace a vehicle (plate unique per tenant: 409)."""
    principal = require_principal(request)
    vehicle_id = key_of(request, "vehicle_id")
    try:
        body = await body_of(request, VehicleIn)
    except BadBody as bad:
        return bad.response
    try:
        async with request.app[DB].begin() as session:
            await check_site(session, principal, body.home_site_id)
            bumped = await register.save_vehicle(session, principal.tenant_id, vehicle_id, body)
    except register.PlateTaken as err:
        return error_response(409, "plate_taken", str(err))
    except IntegrityError:  # a concurrent edit took the plate between the check and the commit
        return error_response(409, "plate_taken", f"plate {body.plate} is taken")
    request.app[NOTIFIER].notify(bumped)
    describe(request, "fleet.vehicle.put", vehicle_id, plate=body.plate, status=body.status)
    return json_model(VehicleOut(id=vehicle_id, **body.model_dump()))


@requires("fleet.read")
@documented(DocumentList, csv=True)
async def handle_documents(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/documents[?format=csv]: every vehicle document with its expiry status, soonest first."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await register.documents(session, principal.tenant_id, now_utc().date())
    if wants_csv(request):
        return csv_response([DocumentRow.of(d) for d in rows], DocumentRow, "vehicle-documents")
    return json_model(DocumentList(documents=rows))


@requires("fleet.write")
@documented(DocumentOut, request=DocumentIn)
async def handle_put_document(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/vehicles/{vehicle_id}/documents/{kind}: set a document (registration, insurance ...)."""
    principal = require_principal(request)
    vehicle_id, kind = key_of(request, "vehicle_id"), key_of(request, "kind")
    try:
        body = await body_of(request, DocumentIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        await find_vehicle(session, principal, vehicle_id)
        row = await register.save_document(session, principal.tenant_id, vehicle_id, kind, body)
        out = register.document_out(row, now_utc().date())
    describe(request, "fleet.document.put", f"{vehicle_id}/{kind}", expires_on=body.expires_on.isoformat())
    return json_model(out)


@requires("fleet.read")
@documented(AssignmentList, csv=True)
async def handle_assignments(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/assignments[?vehicle=][&format=csv]: who drove which vehicle when."""
    principal = require_principal(request)
    vehicle = request.query.get("vehicle")
    if vehicle is not None and KEY.fullmatch(vehicle) is None:
        return error_response(400, "bad_query", "vehicle must be a vehicle id")
    async with request.app[DB]() as session:
        rows = await register.assignments(session, principal.tenant_id, vehicle)
    if wants_csv(request):
        return csv_response([AssignmentRow.of(a) for a in rows], AssignmentRow, "driver-assignments")
    return json_model(AssignmentList(assignments=rows))


@requires("fleet.write")
@documented(AssignmentOut, request=AssignmentIn)
async def handle_put_assignment(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/vehicles/{vehicle_id}/assignments/{assignment_id}: a driver from start to end; an
    assignment overlapping another of the same vehicle is refused (409)."""
    principal = require_principal(request)
    vehicle_id, assignment_id = key_of(request, "vehicle_id"), key_of(request, "assignment_id")
    try:
        body = await body_of(request, AssignmentIn)
    except BadBody as bad:
        return bad.response
    try:
        async with request.app[DB].begin() as session:
            await find_vehicle(session, principal, vehicle_id)
            out = await register.save_assignment(session, principal.tenant_id, vehicle_id, assignment_id, body)
    except PersonNotFound:
        return error_response(404, "not_found", f"no such person: {body.person_id}")
    except register.AssignmentOverlap as err:
        return error_response(409, "assignment_overlap", str(err))
    describe(request, "fleet.assignment.put", f"{vehicle_id}/{assignment_id}", person_id=body.person_id)
    return json_model(out)


@requires("fleet.read")
@documented(GateList)
async def handle_gates(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/gates: the vehicle gates marked in, out or both ways."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await session.scalars(
            select(FleetGate)
            .where(FleetGate.tenant_id == principal.tenant_id)
            .order_by(FleetGate.site_id, FleetGate.door_id)
        )
        visible = [r for r in rows if principal.site_ids is None or r.site_id in principal.site_ids]
    gates = [
        GateOut.model_validate({"site_id": r.site_id, "door_id": r.door_id, "direction": r.direction}) for r in visible
    ]
    return json_model(GateList(gates=gates))


@requires("fleet.write")
@documented(GateOut, request=GateIn)
async def handle_put_gate(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/sites/{site_id}/gates/{door_id}: whether a gate's reads are arrivals, departures or
    either (`both`: an arrival when the vehicle is not on site, else a departure)."""
    principal = require_principal(request)
    site_id, door_id = key_of(request, "site_id"), key_of(request, "door_id")
    try:
        body = await body_of(request, GateIn)
    except BadBody as bad:
        return bad.response
    async with request.app[DB].begin() as session:
        await check_site(session, principal, site_id)
        row = await session.get(FleetGate, (principal.tenant_id, site_id, door_id))
        if row is None:
            row = FleetGate(tenant_id=principal.tenant_id, site_id=site_id, door_id=door_id)
            session.add(row)
        row.direction = body.direction
    describe(request, "fleet.gate.put", f"{site_id}/{door_id}", direction=body.direction)
    return json_model(GateOut(site_id=site_id, door_id=door_id, direction=body.direction))


def parse_log_query(request: web.Request) -> GateLogQuery:
    """The gate log query, or raise 400 `bad_query`."""
    query = {k: v for k, v in request.query.items() if k != "format"}
    try:
        return GateLogQuery.model_validate(query)
    except ValidationError as err:
        raise api_error(web.HTTPBadRequest, "bad_query", format_validation_error(err, root="(query)")) from err


@requires("fleet.read")
@documented(GateLogOut, query=GateLogQuery, csv=True)
async def handle_gate_log(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/gate-log?from=&to=[&site=][&vehicle=][&format=csv&table=events|visits]: arrivals and
    departures at the vehicle gates, visits with time on site, unknown and misread plates."""
    principal = require_principal(request)
    query = parse_log_query(request)
    start, end = day_span(query.from_, query.to)
    async with request.app[DB]() as session:
        await check_site(session, principal, query.site)
        log = await load_log(session, principal, start, end, query.site)
    out = log_out(log, query.vehicle)
    if wants_csv(request):
        name = f"gate-{query.table}-{query.from_.isoformat()}-{query.to.isoformat()}"
        if query.table == "visits":
            return csv_response([VisitRow.of(v) for v in out.visits], VisitRow, name)
        return csv_response([GateEventRow.of(e) for e in out.events], GateEventRow, name)
    return json_model(out)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the fleet API (register and gate log)."""
    router.add_get(f"{BASE}/vehicles", handle_vehicles)
    router.add_get(f"{BASE}/vehicles/{{vehicle_id}}", handle_get_vehicle)
    router.add_put(f"{BASE}/vehicles/{{vehicle_id}}", handle_put_vehicle)
    router.add_put(f"{BASE}/vehicles/{{vehicle_id}}/documents/{{kind}}", handle_put_document)
    router.add_put(f"{BASE}/vehicles/{{vehicle_id}}/assignments/{{assignment_id}}", handle_put_assignment)
    router.add_get(f"{BASE}/documents", handle_documents)
    router.add_get(f"{BASE}/assignments", handle_assignments)
    router.add_get(f"{BASE}/gates", handle_gates)
    router.add_put(f"{BASE}/sites/{{site_id}}/gates/{{door_id}}", handle_put_gate)
    router.add_get(f"{BASE}/gate-log", handle_gate_log)
