"""HQ portal page of fleet maintenance: the board (alerts, battery suggestions, work orders, schedules) and its
forms (new work order, a work order's status/assignee/cost/tasks, a schedule), through the API's write path."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from cloud.appkeys import DB
from cloud.audit import describe
from cloud.auth import require_principal
from cloud.config import format_validation_error
from cloud.db.models import new_slug
from cloud.fleet import register
from cloud.fleet.maintenance_load import board
from cloud.fleet.maintenance_models import ScheduleIn, WorkOrderIn
from cloud.fleet.maintenance_store import NotFound, save_schedule, save_work_order
from cloud.fleet.models import WorkOrder
from cloud.permissions import requires
from cloud.tenancy import scoped_sites

BOARD_PATH = "/portal/fleet/maintenance"


class BadForm(ValueError):
    """A form value that cannot be what it says (shown above the forms)."""


def _cents(text: str) -> int:
    try:
        value = Decimal(text.strip() or "0")
    except InvalidOperation as err:
        raise BadForm(f"cost: {text!r} is not an amount like 12.50") from err
    if not value.is_finite() or value < 0 or value > 100_000_000:
        raise BadForm("cost: an amount from 0 to 100000000")
    return int((value * 100).to_integral_value())


def _text(form: MultiDictProxy[Any], name: str) -> str | None:
    value = str(form.get(name, "")).strip()
    return value or None


async def _board_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    principal = require_principal(request)
    now = datetime.now(UTC)
    async with request.app[DB]() as session:
        out = await board(session, principal, now)
        sites = list(await session.scalars(scoped_sites(principal)))
        vehicles = await register.vehicles(session, principal.tenant_id, now.date(), now)
    context = {
        "principal": principal,
        "board": out,
        "error": error,
        "sites": sites,
        "site_names": {s.id: s.name for s in sites},
        "vehicles": vehicles,
        "vehicle_names": {v.id: f"{v.name or v.plate} ({v.plate})" for v in vehicles},
        "open": [w for w in out.work_orders if w.status in ("open", "in_progress")],
        "closed": [w for w in out.work_orders if w.status not in ("open", "in_progress")],
    }
    return aiohttp_jinja2.render_template("fleet_maintenance.html", request, context, status=status)


@requires("fleet.read")
async def handle_board_page(request: web.Request) -> web.Response:
    """GET /portal/fleet/maintenance: the maintenance board."""
    return await _board_page(request)


def _subject(form: MultiDictProxy[Any]) -> dict[str, Any]:
    vehicle = _text(form, "vehicle_id")
    if vehicle is not None:
        return {"vehicle_id": vehicle}
    return {"site_id": _text(form, "site_id"), "device_id": _text(form, "device_id")}


@requires("fleet.write")
async def handle_new_work_order(request: web.Request) -> web.Response:
    """POST /portal/fleet/maintenance/work-orders: a new work order (also from a battery suggestion)."""
    principal = require_principal(request)
    form = await request.post()
    try:
        body = WorkOrderIn.model_validate(
            {
                **_subject(form),
                "title": str(form.get("title", "")).strip(),
                "assignee": _text(form, "assignee"),
                "due_on": _text(form, "due_on"),
                "cost_cents": _cents(str(form.get("cost", ""))),
                "tasks": [{"text": line.strip()} for line in str(form.get("tasks", "")).splitlines() if line.strip()],
            }
        )
    except ValidationError as err:
        return await _board_page(request, format_validation_error(err, root="(form)"), 400)
    except BadForm as err:
        return await _board_page(request, str(err), 400)
    work_order_id = new_slug()
    try:
        async with request.app[DB].begin() as session:
            await save_work_order(session, principal, work_order_id, body, datetime.now(UTC).date())
    except NotFound as err:
        return await _board_page(request, str(err), 404)
    describe(request, "fleet.work_order.put", work_order_id, status=body.status, cost_cents=body.cost_cents)
    return web.Response(status=303, headers={"Location": BOARD_PATH})


@requires("fleet.write")
async def handle_update_work_order(request: web.Request) -> web.Response:
    """POST /portal/fleet/maintenance/work-orders/{work_order_id}: status, assignee, cost and which tasks are done."""
    principal = require_principal(request)
    work_order_id = request.match_info["work_order_id"]
    form = await request.post()
    async with request.app[DB]() as session:
        row = await session.get(WorkOrder, (principal.tenant_id, work_order_id))
        if row is None or (
            row.site_id is not None and principal.site_ids is not None and row.site_id not in principal.site_ids
        ):
            raise web.HTTPNotFound(text="no such work order")
        tasks: list[dict[str, Any]] = list(row.tasks)
        current: dict[str, Any] = dict(
            title=row.title,
            vehicle_id=row.vehicle_id,
            site_id=row.site_id,
            device_id=row.device_id,
            schedule_id=row.schedule_id,
            due_on=row.due_on,
        )
    done = set(form.getall("done", []))
    try:
        body = WorkOrderIn.model_validate(
            {
                **current,
                "status": str(form.get("status", "")),
                "assignee": _text(form, "assignee"),
                "cost_cents": _cents(str(form.get("cost", ""))),
                "tasks": [{"text": t["text"], "done": str(i) in done} for i, t in enumerate(tasks)],
            }
        )
    except ValidationError as err:
        return await _board_page(request, format_validation_error(err, root="(form)"), 400)
    except BadForm as err:
        return await _board_page(request, str(err), 400)
    async with request.app[DB].begin() as session:
        await save_work_order(session, principal, work_order_id, body, datetime.now(UTC).date())
    describe(request, "fleet.work_order.put", work_order_id, status=body.status, cost_cents=body.cost_cents)
    return web.Response(status=303, headers={"Location": BOARD_PATH})


@requires("fleet.write")
async def handle_schedule_form(request: web.Request) -> web.Response:
    """POST /portal/fleet/maintenance/schedules: add or replace a schedule."""
    principal = require_principal(request)
    form = await request.post()
    schedule_id = str(form.get("id", "")).strip()
    if register.SLUG_RE.fullmatch(schedule_id) is None:
        return await _board_page(request, "id: letters, digits and _.:- (up to 64)", 400)
    try:
        body = ScheduleIn.model_validate(
            {
                **_subject(form),
                "name": str(form.get("name", "")).strip(),
                **{k: _text(form, k) for k in ("every_days", "every_trips", "every_service_days", "last_done_on")},
            }
        )
    except ValidationError as err:
        return await _board_page(request, format_validation_error(err, root="(form)"), 400)
    try:
        async with request.app[DB].begin() as session:
            await save_schedule(session, principal, schedule_id, body)
    except NotFound as err:
        return await _board_page(request, str(err), 404)
    describe(request, "fleet.schedule.put", schedule_id, name=body.name)
    return web.Response(status=303, headers={"Location": BOARD_PATH})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the maintenance pages."""
    router.add_get(BOARD_PATH, handle_board_page)
    router.add_post(f"{BOARD_PATH}/work-orders", handle_new_work_order)
    router.add_post(f"{BOARD_PATH}/work-orders/{{work_order_id}}", handle_update_work_order)
    router.add_post(f"{BOARD_PATH}/schedules", handle_schedule_form)
