"""Load the gate log's inputs (plate reads from synced records, the register, gate directions) and build it.

The reads are the sites' ``plate_decision`` audit records (edge/access/service.py), read straight from
`records` for the principal's sites; nothing is stored, so a late batch shows in the log at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Record
from cloud.fleet.api_models import GateEventOut, GateLogOut, VisitOut
from cloud.fleet.gatelog import GateDirection, GateEvent, GateLog, PlateRead, Visit, build_log
from cloud.fleet.models import FleetGate, FleetVehicle
from cloud.tenancy import Principal, scoped_sites


def _read(record: Record) -> PlateRead | None:
    """The plate read of a record, or None for a record without a usable plate (left out, never guessed)."""
    payload: dict[str, Any] = record.payload
    plate, door = payload.get("plate"), payload.get("door_id")
    if not isinstance(plate, str) or not plate or not isinstance(door, str):
        return None
    confidence = payload.get("confidence")
    return PlateRead(
        site_id=record.site_id,
        door_id=door,
        at=record.occurred_at,
        plate=plate[:16],
        confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
        granted=payload.get("granted") is True,
        seq=record.seq,
    )


async def register_plates(session: AsyncSession, tenant_id: str) -> dict[str, str]:
    """The register as plate -> vehicle id (retired vehicles included: their old reads still match)."""
    rows = await session.execute(select(FleetVehicle.plate, FleetVehicle.id).where(FleetVehicle.tenant_id == tenant_id))
    return {plate: vehicle_id for plate, vehicle_id in rows}


async def load_log(
    session: AsyncSession, principal: Principal, start: datetime, end: datetime, site_id: str | None = None
) -> GateLog:
    """The gate log of the principal's sites (or one of them) for reads in [start, end)."""
    sites = [s.id for s in await session.scalars(scoped_sites(principal))]
    if site_id is not None:
        sites = [s for s in sites if s == site_id]
    rows = await session.scalars(
        select(Record)
        .where(
            Record.site_id.in_(sites),
            Record.kind == "audit",
            Record.occurred_at >= start,
            Record.occurred_at < end,
            Record.payload["type"].as_string() == "plate_decision",
        )
        .order_by(Record.occurred_at, Record.seq)
    )
    reads = [r for r in map(_read, rows) if r is not None]
    gates = {
        (g.site_id, g.door_id): cast(GateDirection, g.direction)
        for g in await session.scalars(select(FleetGate).where(FleetGate.tenant_id == principal.tenant_id))
    }
    return build_log(reads, await register_plates(session, principal.tenant_id), gates)


def day_span(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants from the start of `first` to the end of `last`."""
    return datetime.combine(first, time(0), UTC), datetime.combine(last + timedelta(days=1), time(0), UTC)


def event_out(event: GateEvent) -> GateEventOut:
    """The API's view of a placed read."""
    read = event.read
    return GateEventOut(
        at=read.at,
        site_id=read.site_id,
        door_id=read.door_id,
        plate_read=read.plate,
        read_confidence=read.confidence,
        vehicle_id=event.vehicle_id,
        plate=event.plate,
        match=event.match,
        match_confidence=event.match_confidence,
        candidates=list(event.candidates),
        movement=event.movement,
        granted=read.granted,
    )


def visit_out(visit: Visit) -> VisitOut:
    """The API's view of a visit."""
    return VisitOut(
        vehicle_id=visit.vehicle_id,
        plate=visit.plate,
        site_id=visit.site_id,
        arrived=visit.arrived,
        departed=visit.departed,
        minutes_on_site=visit.minutes,
        unknown=visit.vehicle_id is None,
    )


def log_out(log: GateLog, vehicle_id: str | None = None) -> GateLogOut:
    """The API's view of the log, optionally of one vehicle."""
    events = [e for e in log.events if vehicle_id is None or e.vehicle_id == vehicle_id]
    visits = [v for v in log.visits if vehicle_id is None or v.vehicle_id == vehicle_id]
    return GateLogOut(events=[event_out(e) for e in events], visits=[visit_out(v) for v in visits])
