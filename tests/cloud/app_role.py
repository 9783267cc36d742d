"""A PostgreSQL login role like production's: not a superuser, no BYPASSRLS, so row-level security applies."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from cloud.db.migrate import upgrade


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def app_role_url(db_url: str) -> AsyncIterator[str]:
    """Migrate the database as the admin, create an app role with data rights only, yield its URL (SQLite: as is).

    The role can read and write every table but owns none, is no superuser and cannot bypass row-level security.
    """
    if not db_url.startswith("postgresql"):
        yield db_url
        return
    await upgrade(db_url)
    role = f"outpost_app_{secrets.token_hex(4)}"
    database = make_url(db_url).database
    admin = await asyncpg.connect(_asyncpg_dsn(db_url), timeout=10)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
        await admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        await admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        await admin.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        yield make_url(db_url).set(username=role).render_as_string(hide_password=False)
    finally:
        try:
            await admin.execute(f"DROP OWNED BY {role}")
        finally:
            await admin.close()
        # The role's grants are gone with DROP OWNED; drop the role from the cluster-wide catalog.
        other = await asyncpg.connect(_asyncpg_dsn(db_url), timeout=10)
        try:
            await other.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            await other.execute(f"DROP ROLE IF EXISTS {role}")
        finally:
            await other.close()
