"""Which discovery configs this box has published, so one removed from the config can be cleared."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert

from edge.storage.database import Database
from edge.storage.schema import ha_discovery


class DiscoveryStore:
    """Published discovery topics with their configs; a removed entity's row stays as a tombstone (None)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> dict[str, dict[str, Any] | None]:
        """Every topic published so far: its config, or None once it was removed."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(ha_discovery))).all()
        return {row.topic: row.payload for row in rows}

    async def save(self, published: dict[str, dict[str, Any] | None]) -> None:
        """Record configs (or tombstones) by topic."""
        if not published:
            return
        async with self._db.engine.begin() as conn:
            for topic, payload in published.items():
                statement = insert(ha_discovery).values(topic=topic, payload=payload)
                await conn.execute(statement.on_conflict_do_update(index_elements=["topic"], set_={"payload": payload}))
