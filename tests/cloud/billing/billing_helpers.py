"""Helpers of the billing tests: a migrated database, tenants and sites enrolled on given days."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.models import Site, Tenant


def at(day: date, hour: int = 12) -> datetime:
    """An aware UTC datetime on `day`."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def add_tenant(db: async_sessionmaker[AsyncSession], name: str) -> str:
    """Create a tenant; return its id."""
    async with db.begin() as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        await session.flush()
        return tenant.id


async def add_site(
    db: async_sessionmaker[AsyncSession],
    tenant_id: str,
    name: str,
    enrolled: date,
    revoked: date | None = None,
) -> str:
    """Enroll a site on `enrolled` (revoked on `revoked`); return its id."""
    async with db.begin() as session:
        site = Site(
            tenant_id=tenant_id,
            name=name,
            secret=secrets.token_hex(32),
            enrolled_at=at(enrolled, 9),
            revoked_at=at(revoked, 9) if revoked else None,
            revoked_by="test" if revoked else None,
        )
        session.add(site)
        await session.flush()
        return site.id
