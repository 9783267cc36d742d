"""PostgreSQL row-level security: as the app's role (no superuser, no BYPASSRLS), an unfiltered query sees only
the transaction's tenant, writes into another tenant are refused, and every tenant-owned table has a policy."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from app_role import app_role_url
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from cloud.admin import bootstrap_tenant
from cloud.db.engine import create_engine, session_factory
from cloud.db.models import AuditEntry, Base, Record, Site, Tenant, User, utcnow
from cloud.db.tenant_context import system_context, tenant_context
from tests.conftest import PG_ADMIN_DSN


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url() -> AsyncIterator[str]:
    """PostgreSQL only: SQLite has no row-level security (its isolation is the query layer's, tested elsewhere)."""
    name = f"outpost_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    host_part = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _two_tenants(url: str) -> tuple[str, str]:
    engine = create_engine(url)
    db = session_factory(engine)
    try:
        ids = []
        for name in ("Acme", "Globex"):
            result = await bootstrap_tenant(db, name, f"owner@{name.lower()}.example", "correct horse battery")
            ids.append(result.tenant_id)
            with system_context():
                async with db.begin() as session:
                    site = Site(id=f"site-{name.lower()}", tenant_id=result.tenant_id, name=f"{name} depot", secret="s")
                    session.add(site)
                    await session.flush()
                    session.add(
                        Record(
                            tenant_id=result.tenant_id,
                            site_id=site.id,
                            seq=1,
                            kind="event",
                            occurred_at=utcnow(),
                            payload={"n": 1},
                        )
                    )
                    session.add(AuditEntry(tenant_id=result.tenant_id, actor="x", action="test"))
        return ids[0], ids[1]
    finally:
        await engine.dispose()


async def test_an_unfiltered_query_as_the_app_role_sees_only_its_tenant(db_url: str) -> None:
    async with app_role_url(db_url) as app_url:
        acme, globex = await _two_tenants(db_url)
        engine = create_engine(app_url)
        db = session_factory(engine)
        try:
            async with db() as session:
                assert (
                    await session.execute(
                        text("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
                    )
                ).one()[1] is False
            with tenant_context(acme):
                async with db() as session:
                    # Deliberately no tenant filter anywhere: the policies do the filtering.
                    assert set(await session.scalars(select(Tenant.id))) == {acme}
                    assert [s.id for s in await session.scalars(select(Site))] == ["site-acme"]
                    assert [r.site_id for r in await session.scalars(select(Record))] == ["site-acme"]
                    assert [u.email for u in await session.scalars(select(User))] == ["owner@acme.example"]
                    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1
            async with db() as session:  # no tenant at all: nothing
                assert await session.scalar(select(func.count()).select_from(Site)) == 0
                assert await session.scalar(select(func.count()).select_from(Record)) == 0
            with tenant_context(acme), pytest.raises(DBAPIError, match="row-level security"):
                async with db.begin() as session:
                    session.add(Site(id="planted", tenant_id=globex, name="planted", secret="s"))
            with tenant_context(acme), pytest.raises(DBAPIError, match="row-level security"):
                async with db.begin() as session:
                    session.add(
                        Record(
                            tenant_id=globex,
                            site_id="site-globex",
                            seq=9,
                            kind="event",
                            occurred_at=utcnow(),
                            payload={},
                        )
                    )
            with tenant_context(acme):
                async with db.begin() as session:
                    changed = await session.execute(text("UPDATE sites SET name = 'renamed'"))
                    assert changed.rowcount == 1  # type: ignore[attr-defined]
            with system_context():
                async with db() as session:
                    names = {row.id: row.name for row in await session.execute(select(Site.id, Site.name))}
            assert names == {"site-acme": "renamed", "site-globex": "Globex depot"}
        finally:
            await engine.dispose()


async def test_every_tenant_owned_table_has_a_forced_policy(db_url: str) -> None:
    async with app_role_url(db_url):
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname) "
                        "FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid "
                        "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace "
                        "GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity"
                    )
                )
                protected = {name for name, enabled, forced, policies in rows if enabled and forced and policies}
        finally:
            await engine.dispose()
    tenant_owned = {t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c or "site_id" in t.c}
    tenant_owned |= {"tenants", "sessions"}
    assert tenant_owned - protected == set()
