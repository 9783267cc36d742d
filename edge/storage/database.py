"""The edge SQLite database: engine with WAL + FULL sync, and numbered migrations at start."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from edge.storage.schema import metadata

log = logging.getLogger(__name__)

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _m001_initial(conn: AsyncConnection) -> None:
    await conn.run_sync(metadata.create_all)


# Append-only: a released migration is never edited; add a new numbered one.
MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial schema", _m001_initial),
]


def _set_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: the audit trail and the outbox must survive a power cut once acknowledged.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Database:
    """Owns the async engine of the edge database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        event.listen(self.engine.sync_engine, "connect", _set_pragmas)

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT)")
            )
            current = (await conn.execute(text("SELECT max(version) FROM schema_version"))).scalar() or 0
            for version, name, apply in MIGRATIONS:
                if version > current:
                    log.info("applying edge migration %d: %s", version, name)
                    await apply(conn)
                    await conn.execute(
                        text("INSERT INTO schema_version (version, name) VALUES (:v, :n)"),
                        {"v": version, "n": name},
                    )
                    current = version
        return current

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown)."""
        async with self.engine.begin() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        """Dispose of all connections."""
        await self.engine.dispose()
