"""Alembic environment for the cloud database (async engines; connection sharing for programmatic use)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from cloud.analytics.partitions import include_name
from cloud.db.engine import create_engine
from cloud.db.models import Base

config = context.config
target_metadata = Base.metadata


def _do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Monthly partitions (PostgreSQL) are made by the migrations and the maintenance run, not the models.
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async_migrations(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # Called from cloud.db.migrate inside a running loop: reuse its connection.
        _do_run_migrations(connection)
        return
    # Called from the `alembic` command line (development: `alembic -c cloud/migrations/alembic.ini ...`).
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("OUTPOST_CLOUD__DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or OUTPOST_CLOUD__DATABASE_URL to run Alembic by hand")
    asyncio.run(_run_async_migrations(url))


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
_run_migrations_online()
