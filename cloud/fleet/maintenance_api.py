"""The fleet JSON API, part 2: maintenance schedules, work orders, and the board of alerts (expiring documents,
maintenance due or overdue, late work orders, batteries about to die), each with a CSV export."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from cloud.analytics.api import csv_response
from cloud.api_inputs import BadBody, body_of, key_of, wants_csv
from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.fleet.api import BASE
from cloud.fleet.csv_rows import AlertRow, ScheduleRow, WorkOrderRow
from cloud.fleet.maintenance_load import board, schedules, work_order_out, work_orders
from cloud.fleet.maintenance_models import (
    BoardOut,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
    WorkOrderIn,
    WorkOrderList,
    WorkOrderOut,
)
from cloud.fleet.maintenance_store import NotFound, save_schedule, save_work_order
from cloud.openapi import documented
from cloud.permissions import requires
from cloud.responses import error_response, json_model


@requires("fleet.read")
@documented(ScheduleList, csv=True)
async def handle_schedules(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/schedules[?format=csv]: maintenance schedules with their state (ok, due, overdue)."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await schedules(session, principal, datetime.now(UTC))
    if wants_csv(request):
        return csv_response([ScheduleRow.of(s) for s in rows], ScheduleRow, "maintenance-schedules")
    return json_model(ScheduleList(schedules=rows))


@requires("fleet.write")
@documented(ScheduleOut, request=ScheduleIn)
async def handle_put_schedule(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/schedules/{schedule_id}: every N days, N gate trips and/or N days in service, for a
    vehicle or a site's device."""
    principal = require_principal(request)
    schedule_id = key_of(request, "schedule_id")
    try:
        body = await body_of(request, ScheduleIn)
    except BadBody as bad:
        return bad.response
    try:
        async with request.app[DB].begin() as session:
            await save_schedule(session, principal, schedule_id, body)
    except NotFound as err:
        return error_response(404, "not_found", str(err))
    describe(request, "fleet.schedule.put", schedule_id, name=body.name)
    async with request.app[DB]() as session:
        rows = await schedules(session, principal, datetime.now(UTC))
    return json_model(next(s for s in rows if s.id == schedule_id))


@requires("fleet.read")
@documented(WorkOrderList, csv=True)
async def handle_work_orders(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/work-orders[?format=csv]: work orders, open ones first by due date."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        rows = await work_orders(session, principal, datetime.now(UTC).date())
    if wants_csv(request):
        return csv_response([WorkOrderRow.of(w) for w in rows], WorkOrderRow, "work-orders")
    return json_model(WorkOrderList(work_orders=rows))


@requires("fleet.write")
@documented(WorkOrderOut, request=WorkOrderIn)
async def handle_put_work_order(request: web.Request) -> web.Response:
    """PUT /api/v1/fleet/work-orders/{work_order_id}: create or replace a work order; done with a schedule sets
    the schedule's last done date."""
    principal = require_principal(request)
    work_order_id = key_of(request, "work_order_id")
    try:
        body = await body_of(request, WorkOrderIn)
    except BadBody as bad:
        return bad.response
    today = datetime.now(UTC).date()
    try:
        async with request.app[DB].begin() as session:
            row = await save_work_order(session, principal, work_order_id, body, today)
            out = work_order_out(row, today)
    except NotFound as err:
        return error_response(404, "not_found", str(err))
    describe(request, "fleet.work_order.put", work_order_id, status=body.status, cost_cents=body.cost_cents)
    return json_model(out)


@requires("fleet.read")
@documented(BoardOut, csv=True)
async def handle_board(request: web.Request) -> web.Response:
    """GET /api/v1/fleet/maintenance[?format=csv]: the board — alerts (documents expiring, maintenance due or
    overdue, late work orders, batteries dying within 14 days), schedules, work orders and battery suggestions;
    the CSV holds the alerts."""
    principal = require_principal(request)
    async with request.app[DB]() as session:
        out = await board(session, principal, datetime.now(UTC))
    if wants_csv(request):
        return csv_response([AlertRow.of(a) for a in out.alerts], AlertRow, "fleet-alerts")
    return json_model(out)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the maintenance API."""
    router.add_get(f"{BASE}/maintenance", handle_board)
    router.add_get(f"{BASE}/schedules", handle_schedules)
    router.add_put(f"{BASE}/schedules/{{schedule_id}}", handle_put_schedule)
    router.add_get(f"{BASE}/work-orders", handle_work_orders)
    router.add_put(f"{BASE}/work-orders/{{work_order_id}}", handle_put_work_order)
