"""Run the cloud's Alembic migrations programmatically (works from an installed package)."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from cloud.db.engine import create_engine

SCRIPT_LOCATION = "cloud:migrations"


def alembic_config() -> Config:
    """Build the Alembic config in code: no alembic.ini needs to sit in the working directory."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


async def _run(url: str, action: Callable[[Config], None]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_with_connection, action)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, action: Callable[[Config], None]) -> None:
    config = alembic_config()
    # env.py reuses this connection instead of opening its own event loop.
    config.attributes["connection"] = connection
    action(config)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (default: the newest)."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at `url` down to `revision` (default: empty)."""
    await _run(url, lambda config: command.downgrade(config, revision))


async def current_revision(url: str) -> str | None:
    """Return the revision the database at `url` is at, or None if it is unversioned."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()
