"""Saving schedules and work orders (one write path for the API and the portal)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import utcnow
from cloud.fleet.maintenance_models import ScheduleIn, Subject, WorkOrderIn
from cloud.fleet.models import FleetVehicle, MaintenanceSchedule, WorkOrder
from cloud.tenancy import Principal, SiteNotFound, TenantScope


class NotFound(LookupError):
    """A vehicle, site or schedule named in the body does not exist for the principal."""


async def check_subject(session: AsyncSession, principal: Principal, subject: Subject) -> None:
    """Raise NotFound unless the vehicle is the tenant's, or the site one the principal sees."""
    if subject.vehicle_id is not None:
        if await session.get(FleetVehicle, (principal.tenant_id, subject.vehicle_id)) is None:
            raise NotFound(f"no such vehicle: {subject.vehicle_id}")
    elif subject.site_id is not None:
        try:
            await TenantScope(session, principal).site(subject.site_id)
        except SiteNotFound as err:
            raise NotFound(f"no such site: {subject.site_id}") from err


async def save_schedule(session: AsyncSession, principal: Principal, schedule_id: str, body: ScheduleIn) -> None:
    """Create or replace a schedule."""
    await check_subject(session, principal, body)
    row = await session.get(MaintenanceSchedule, (principal.tenant_id, schedule_id))
    if row is None:
        row = MaintenanceSchedule(tenant_id=principal.tenant_id, id=schedule_id)
        session.add(row)
    elif row.site_id is not None and principal.site_ids is not None and row.site_id not in principal.site_ids:
        raise NotFound(f"no such schedule: {schedule_id}")
    for name, value in body.model_dump().items():
        setattr(row, name, value)


async def save_work_order(
    session: AsyncSession, principal: Principal, work_order_id: str, body: WorkOrderIn, today: date
) -> WorkOrder:
    """Create or replace a work order. Done: completed today unless given, and its schedule counts from then."""
    await check_subject(session, principal, body)
    schedule = None
    if body.schedule_id is not None:
        schedule = await session.get(MaintenanceSchedule, (principal.tenant_id, body.schedule_id))
        if schedule is None:
            raise NotFound(f"no such schedule: {body.schedule_id}")
    row = await session.get(WorkOrder, (principal.tenant_id, work_order_id))
    if row is None:
        row = WorkOrder(tenant_id=principal.tenant_id, id=work_order_id, created_at=utcnow())
        session.add(row)
    elif row.site_id is not None and principal.site_ids is not None and row.site_id not in principal.site_ids:
        raise NotFound(f"no such work order: {work_order_id}")
    values = body.model_dump()
    values["tasks"] = [t.model_dump() for t in body.tasks]
    if body.status == "done" and body.completed_on is None:
        values["completed_on"] = today
    if body.status != "done":
        values["completed_on"] = None
    for name, value in values.items():
        setattr(row, name, value)
    done_on = values["completed_on"]
    if schedule is not None and done_on is not None:
        schedule.last_done_on = max(done_on, schedule.last_done_on or done_on)
    return row
