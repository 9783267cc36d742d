"""Load maintenance's inputs (schedules, work orders, gate trips, battery readings) and build the board: each
schedule's state, late work orders, expiring documents and battery work-order suggestions, as alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.analytics_models import DeviceState, FactSensor
from cloud.fleet import register
from cloud.fleet.gatelog import GateLog
from cloud.fleet.gatelog_load import load_log
from cloud.fleet.maintenance import (
    BATTERY_WINDOW,
    ScheduleRule,
    Usage,
    battery_forecast,
    needs_battery_work,
    schedule_status,
    work_order_state,
)
from cloud.fleet.maintenance_models import AlertOut, BatterySuggestion, BoardOut, ScheduleOut, TaskIn, WorkOrderOut
from cloud.fleet.models import FleetVehicle, MaintenanceSchedule, WorkOrder
from cloud.tenancy import Principal, owned

# Usage is counted from the gate log of at most this long ago.
USAGE_LOOKBACK = timedelta(days=400)
OPEN = ("open", "in_progress")


def visible(principal: Principal, site_id: str | None) -> bool:
    """Whether a device's site (None: a vehicle, tenant-wide) is one the principal sees."""
    return site_id is None or principal.site_ids is None or site_id in principal.site_ids


def usage_since(log: GateLog, vehicle_id: str, since: date) -> Usage:
    """A vehicle's gate trips (arrivals) and days with a gate movement (UTC days) from `since` on."""
    start = datetime.combine(since, time(0), UTC)
    mine = [e for e in log.events if e.vehicle_id == vehicle_id and e.read.at >= start]
    return Usage(
        trips=sum(1 for e in mine if e.movement == "arrival"),
        service_days=len({e.read.at.date() for e in mine}),
    )


def work_order_out(row: WorkOrder, today: date) -> WorkOrderOut:
    """The API's view of a work order, with its state as of `today`."""
    return WorkOrderOut(
        id=row.id,
        title=row.title,
        vehicle_id=row.vehicle_id,
        site_id=row.site_id,
        device_id=row.device_id,
        schedule_id=row.schedule_id,
        assignee=row.assignee,
        status=row.status,  # type: ignore[arg-type]  # stored from a validated WorkOrderIn
        tasks=[TaskIn.model_validate(t) for t in row.tasks],
        cost_cents=row.cost_cents,
        due_on=row.due_on,
        completed_on=row.completed_on,
        created_at=row.created_at,
        state=work_order_state(row.status, row.due_on, today),
    )


async def schedules(session: AsyncSession, principal: Principal, now: datetime) -> list[ScheduleOut]:
    """Every schedule the principal sees, with its state as of `now`."""
    tenant, today = principal.tenant_id, now.date()
    rows = [
        r
        for r in await session.scalars(
            select(MaintenanceSchedule).where(MaintenanceSchedule.tenant_id == tenant).order_by(MaintenanceSchedule.id)
        )
        if visible(principal, r.site_id)
    ]
    vehicles = await session.scalars(select(FleetVehicle).where(FleetVehicle.tenant_id == tenant))
    started = {v.id: v.in_service_from for v in vehicles}
    since = {r.id: r.last_done_on or (started.get(r.vehicle_id) if r.vehicle_id else None) for r in rows}
    counted = [d for r in rows if r.vehicle_id and (d := since[r.id]) is not None]
    log = None
    if counted:
        start = max(datetime.combine(min(counted), time(0), UTC), now - USAGE_LOOKBACK)
        log = await load_log(session, principal, start, now + timedelta(days=1))
    out = []
    for r in rows:
        rule = ScheduleRule(r.every_days, r.every_trips, r.every_service_days, r.warn_days, r.warn_trips)
        start_day = since[r.id]
        usage = usage_since(log, r.vehicle_id, start_day) if log and r.vehicle_id and start_day else Usage()
        status = schedule_status(rule, start_day, usage, today)
        out.append(
            ScheduleOut(
                id=r.id,
                name=r.name,
                vehicle_id=r.vehicle_id,
                site_id=r.site_id,
                device_id=r.device_id,
                every_days=r.every_days,
                every_trips=r.every_trips,
                every_service_days=r.every_service_days,
                warn_days=r.warn_days,
                warn_trips=r.warn_trips,
                last_done_on=r.last_done_on,
                state=status.state,
                since=start_day,
                due_on=status.due_on,
                days_left=status.days_left,
                trips_left=status.trips_left,
                service_days_left=status.service_days_left,
                reason=status.reason,
            )
        )
    return out


async def work_orders(session: AsyncSession, principal: Principal, today: date) -> list[WorkOrderOut]:
    """Every work order the principal sees: open ones first, by due date."""
    rows = await session.scalars(select(WorkOrder).where(WorkOrder.tenant_id == principal.tenant_id))
    out = [work_order_out(r, today) for r in rows if visible(principal, r.site_id)]
    out.sort(key=lambda w: (w.status not in OPEN, w.due_on or date.max, w.id))
    return out


async def battery(
    session: AsyncSession, principal: Principal, now: datetime, open_orders: list[WorkOrderOut]
) -> list[BatterySuggestion]:
    """Devices at the principal's sites whose battery trend dies within 14 days."""
    table = cast(Table, FactSensor.__table__)
    rows = await session.execute(
        select(FactSensor.site_id, FactSensor.device_id, FactSensor.occurred_at, FactSensor.value).where(
            *owned(table, principal),
            FactSensor.metric == "battery",
            FactSensor.occurred_at >= now - BATTERY_WINDOW,
            FactSensor.occurred_at <= now,
        )
    )
    readings: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for site_id, device_id, at, value in rows:
        readings.setdefault((site_id, device_id), []).append((at, value))
    kinds = {
        (d.site_id, d.device_id): d.device_kind
        for d in await session.scalars(select(DeviceState).where(DeviceState.tenant_id == principal.tenant_id))
    }
    orders = {(w.site_id, w.device_id): w.id for w in open_orders if w.status in OPEN and w.device_id}
    out = []
    for (site_id, device_id), values in sorted(readings.items()):
        forecast = battery_forecast(values, now)
        if forecast is None or forecast.dies_at is None or not needs_battery_work(forecast, now):
            continue
        out.append(
            BatterySuggestion(
                site_id=site_id,
                device_id=device_id,
                device_kind=kinds.get((site_id, device_id)),
                battery=forecast.last,
                per_day=round(forecast.per_day, 2),
                dies_at=forecast.dies_at,
                work_order_id=orders.get((site_id, device_id)),
            )
        )
    return out


async def board(session: AsyncSession, principal: Principal, now: datetime) -> BoardOut:
    """The maintenance board: schedules, work orders, battery suggestions and every alert among them."""
    today = now.date()
    plans = await schedules(session, principal, now)
    orders = await work_orders(session, principal, today)
    dying = await battery(session, principal, now, orders)
    alerts: list[AlertOut] = []
    for doc in await register.documents(session, principal.tenant_id, today):
        if doc.status != "valid":
            when = f"expired {-doc.days_left} days ago" if doc.days_left < 0 else f"expires in {doc.days_left} days"
            alerts.append(
                AlertOut(
                    kind="document",
                    state="overdue" if doc.status == "expired" else "due",
                    ref=f"{doc.vehicle_id}/{doc.kind}",
                    vehicle_id=doc.vehicle_id,
                    site_id=None,
                    device_id=None,
                    message=f"{doc.kind} of {doc.vehicle_id} {when}",
                    due_on=doc.expires_on,
                )
            )
    for plan in plans:
        if plan.state != "ok":
            alerts.append(
                AlertOut(
                    kind="schedule",
                    state=plan.state,
                    ref=plan.id,
                    vehicle_id=plan.vehicle_id,
                    site_id=plan.site_id,
                    device_id=plan.device_id,
                    message=f"{plan.name}: {plan.reason}",
                    due_on=plan.due_on,
                )
            )
    for order in orders:
        if order.state != "ok":
            alerts.append(
                AlertOut(
                    kind="work_order",
                    state=order.state,
                    ref=order.id,
                    vehicle_id=order.vehicle_id,
                    site_id=order.site_id,
                    device_id=order.device_id,
                    message=f"work order {order.title} ({order.status}) due {order.due_on}",
                    due_on=order.due_on,
                )
            )
    for device in dying:
        if device.work_order_id is None:
            alerts.append(
                AlertOut(
                    kind="battery",
                    state="due",
                    ref=f"{device.site_id}/{device.device_id}",
                    vehicle_id=None,
                    site_id=device.site_id,
                    device_id=device.device_id,
                    message=f"battery of {device.device_id} at {device.battery:.0f}%, "
                    f"empty around {device.dies_at.date().isoformat()}: replace it",
                    due_on=device.dies_at.date(),
                )
            )
    alerts.sort(key=lambda a: (a.state != "overdue", a.due_on or date.max, a.kind, a.ref))
    return BoardOut(alerts=alerts, schedules=plans, work_orders=orders, battery=dying)
