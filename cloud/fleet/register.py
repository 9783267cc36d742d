"""The vehicle register: reading and saving vehicles with their documents and drivers, document expiry,
overlapping assignments."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Person
from cloud.fleet.api_models import AssignmentIn, AssignmentOut, DocumentIn, DocumentOut, VehicleIn, VehicleOut
from cloud.fleet.models import FleetAssignment, FleetDocument, FleetVehicle
from cloud.people import find_person
from cloud.siteconfig import bump_versions
from cloud.tenancy import tenant_sites

SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class AssignmentOverlap(Exception):
    """An assignment would overlap another one of the same vehicle."""


def document_out(row: FleetDocument, today: date) -> DocumentOut:
    """A document with its status as of `today`: expired after its last day, expiring within its alert days."""
    days_left = (row.expires_on - today).days
    status: Literal["valid", "expiring", "expired"] = (
        "expired" if days_left < 0 else "expiring" if days_left <= row.alert_days else "valid"
    )
    return DocumentOut(
        vehicle_id=row.vehicle_id,
        kind=row.kind,
        number=row.number,
        expires_on=row.expires_on,
        alert_days=row.alert_days,
        status=status,
        days_left=days_left,
    )


async def documents(session: AsyncSession, tenant_id: str, today: date) -> list[DocumentOut]:
    """Every document of the tenant's vehicles, soonest expiry first."""
    rows = await session.scalars(
        select(FleetDocument)
        .where(FleetDocument.tenant_id == tenant_id)
        .order_by(FleetDocument.expires_on, FleetDocument.vehicle_id, FleetDocument.kind)
    )
    return [document_out(r, today) for r in rows]


async def _names(session: AsyncSession, tenant_id: str, person_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Person.id, Person.name).where(Person.tenant_id == tenant_id, Person.id.in_(ids))
    )
    return {person_id: name for person_id, name in rows}


async def assignments(session: AsyncSession, tenant_id: str, vehicle_id: str | None = None) -> list[AssignmentOut]:
    """The tenant's driver assignments (of one vehicle), in time order."""
    query = select(FleetAssignment).where(FleetAssignment.tenant_id == tenant_id)
    if vehicle_id is not None:
        query = query.where(FleetAssignment.vehicle_id == vehicle_id)
    rows = list(await session.scalars(query.order_by(FleetAssignment.start, FleetAssignment.vehicle_id)))
    names = await _names(session, tenant_id, (r.person_id for r in rows))
    return [
        AssignmentOut(
            id=r.id,
            vehicle_id=r.vehicle_id,
            person_id=r.person_id,
            person_name=names.get(r.person_id, r.person_id),
            start=r.start,
            end=r.end,
        )
        for r in rows
    ]


async def check_overlap(
    session: AsyncSession, tenant_id: str, vehicle_id: str, assignment_id: str, start: datetime, end: datetime | None
) -> None:
    """Raise AssignmentOverlap if [start, end) meets another assignment of the vehicle (end None: open)."""
    others = await session.scalars(
        select(FleetAssignment).where(
            FleetAssignment.tenant_id == tenant_id,
            FleetAssignment.vehicle_id == vehicle_id,
            FleetAssignment.id != assignment_id,
        )
    )
    for other in others:
        if (end is None or other.start < end) and (other.end is None or start < other.end):
            until = other.end.isoformat() if other.end else "open-ended"
            raise AssignmentOverlap(f"overlaps assignment {other.id} ({other.start.isoformat()} to {until})")


async def vehicles(session: AsyncSession, tenant_id: str, today: date, now: datetime) -> list[VehicleOut]:
    """The register with each vehicle's documents and current driver, by plate."""
    rows = list(
        await session.scalars(
            select(FleetVehicle).where(FleetVehicle.tenant_id == tenant_id).order_by(FleetVehicle.plate)
        )
    )
    docs: dict[str, list[DocumentOut]] = {}
    for doc in await documents(session, tenant_id, today):
        docs.setdefault(doc.vehicle_id, []).append(doc)
    drivers = {
        a.vehicle_id: a.person_name
        for a in await assignments(session, tenant_id)
        if a.start <= now and (a.end is None or now < a.end)
    }
    return [vehicle_out(r, docs.get(r.id, []), drivers.get(r.id)) for r in rows]


def vehicle_out(row: FleetVehicle, docs: list[DocumentOut], driver: str | None) -> VehicleOut:
    """The API's view of a vehicle."""
    return VehicleOut(
        id=row.id,
        plate=row.plate,
        name=row.name,
        type=row.type,  # type: ignore[arg-type]  # stored from a validated VehicleIn
        home_site_id=row.home_site_id,
        status=row.status,  # type: ignore[arg-type]
        in_service_from=row.in_service_from,
        levels=list(row.levels),
        driver=driver,
        documents=docs,
    )


class PlateTaken(Exception):
    """Another vehicle of the tenant has this plate."""


async def save_vehicle(session: AsyncSession, tenant_id: str, vehicle_id: str, body: VehicleIn) -> set[str]:
    """Create or replace a vehicle (the caller checked its home site); return the sites whose document changed.

    Raises PlateTaken when another vehicle has the plate."""
    taken = await session.scalar(
        select(FleetVehicle.id).where(
            FleetVehicle.tenant_id == tenant_id, FleetVehicle.plate == body.plate, FleetVehicle.id != vehicle_id
        )
    )
    if taken is not None:
        raise PlateTaken(f"plate {body.plate} belongs to vehicle {taken}")
    row = await session.get(FleetVehicle, (tenant_id, vehicle_id))
    if row is None:
        row = FleetVehicle(tenant_id=tenant_id, id=vehicle_id)
        session.add(row)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    sites = [s.id for s in await session.scalars(tenant_sites(tenant_id))]
    return set(await bump_versions(session, tenant_id, sites))


async def save_document(
    session: AsyncSession, tenant_id: str, vehicle_id: str, kind: str, body: DocumentIn
) -> FleetDocument:
    """Create or replace a vehicle's document (the caller checked the vehicle)."""
    row = await session.get(FleetDocument, (tenant_id, vehicle_id, kind))
    if row is None:
        row = FleetDocument(tenant_id=tenant_id, vehicle_id=vehicle_id, kind=kind)
        session.add(row)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    return row


async def save_assignment(
    session: AsyncSession, tenant_id: str, vehicle_id: str, assignment_id: str, body: AssignmentIn
) -> AssignmentOut:
    """Create or replace a driver assignment (the caller checked the vehicle).

    Raises cloud.people.PersonNotFound for a person not of the tenant, AssignmentOverlap for an overlap."""
    person = await find_person(session, tenant_id, body.person_id)
    await check_overlap(session, tenant_id, vehicle_id, assignment_id, body.start, body.end)
    row = await session.get(FleetAssignment, (tenant_id, vehicle_id, assignment_id))
    if row is None:
        row = FleetAssignment(tenant_id=tenant_id, vehicle_id=vehicle_id, id=assignment_id)
        session.add(row)
    row.person_id, row.start, row.end = body.person_id, body.start, body.end
    return AssignmentOut(id=assignment_id, vehicle_id=vehicle_id, person_name=person.name, **body.model_dump())
