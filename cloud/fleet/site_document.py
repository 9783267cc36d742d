"""The register's part of every site's configuration document: the plates its vehicle gates open for."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.fleet.models import FleetVehicle
from sync.policy import Vehicle


async def site_vehicles(session: AsyncSession, tenant_id: str, site_levels: Iterable[str]) -> list[Vehicle] | None:
    """The register's vehicles for a site's document (not retired; levels the site defines), or None when the
    tenant keeps no register (the box then keeps its own list only)."""
    rows = list(
        await session.scalars(
            select(FleetVehicle).where(FleetVehicle.tenant_id == tenant_id).order_by(FleetVehicle.plate)
        )
    )
    if not rows:
        return None
    defined = set(site_levels)
    return [
        Vehicle(plate=r.plate, name=r.name or r.plate, levels=[level for level in r.levels if level in defined])
        for r in rows
        if r.status != "retired"
    ]
