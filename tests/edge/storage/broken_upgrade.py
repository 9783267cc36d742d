"""Run `outpost-edge` with one more migration that fails: the next release's upgrade gone wrong (a subprocess)."""

from __future__ import annotations

import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.cli import main
from edge.storage import database

BROKEN_VERSION = 999


async def half_then_fail(conn: AsyncConnection) -> None:
    """Change the schema and data, then fail like a migration with a bug."""
    await conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
    await conn.execute(text("DELETE FROM events"))
    raise RuntimeError("column 'colour' does not exist")


async def commit_then_fail(conn: AsyncConnection) -> None:
    """Worse: commit part of the upgrade (an autocommitting statement), then fail."""
    await conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
    await conn.execute(text("DELETE FROM events"))
    await conn.commit()
    raise RuntimeError("column 'colour' does not exist")


if __name__ == "__main__":
    database.MIGRATIONS.append((BROKEN_VERSION, "a broken upgrade", half_then_fail))
    sys.exit(main(sys.argv[1:]))
