"""The site journal: every event is stored locally and queued for the cloud in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from edge.storage.database import Database
from edge.storage.schema import events, outbox
from sync.wire import RecordKind, SyncRecord


@dataclass(frozen=True)
class JournalEntry:
    """One stored event."""

    id: int
    kind: str
    occurred_at: datetime
    source: str
    summary: str
    payload: dict[str, Any]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Journal:
    """Writes events durably (event row + outbox row, one commit) and serves them back."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._write_lock = asyncio.Lock()
        self._listeners: list[Callable[[JournalEntry], None]] = []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> Callable[[], None]:
        """Call `listener` after each committed event; return an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def record(
        self,
        kind: RecordKind,
        payload: dict[str, Any],
        *,
        source: str = "",
        summary: str = "",
        occurred_at: datetime | None = None,
    ) -> JournalEntry:
        """Store an event and queue it for sync; returns once it is on disk."""
        when = _aware(occurred_at or datetime.now(UTC))
        body = {"source": source, "summary": summary, **payload}
        async with self._write_lock, self._db.engine.begin() as conn:
            result = await conn.execute(
                insert(events).values(
                    kind=kind, occurred_at=when, source=source, summary=summary, payload=payload
                )
            )
            event_id = result.inserted_primary_key[0]
            await conn.execute(
                insert(outbox).values(kind=kind, occurred_at=when, payload={"event_id": event_id, **body})
            )
        entry = JournalEntry(event_id, kind, when, source, summary, payload)
        for listener in list(self._listeners):
            listener(entry)
        return entry

    async def recent(self, limit: int = 50, kind: str | None = None) -> list[JournalEntry]:
        """Return the newest events first."""
        query = select(events).order_by(events.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            JournalEntry(r.id, r.kind, _aware(r.occurred_at), r.source, r.summary, r.payload) for r in rows
        ]


class Outbox:
    """The queue of records not yet acknowledged by the cloud (implements sync.agent.OutboxSource)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def pending(self, limit: int) -> list[SyncRecord]:
        """Return up to `limit` unacknowledged records, oldest first."""
        query = select(outbox).where(outbox.c.acked.is_(False)).order_by(outbox.c.seq).limit(limit)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            SyncRecord(seq=r.seq, kind=r.kind, occurred_at=_aware(r.occurred_at), payload=r.payload)
            for r in rows
        ]

    async def mark_acked(self, up_to_seq: int) -> None:
        """Mark every record with seq <= `up_to_seq` as delivered."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.seq <= up_to_seq, outbox.c.acked.is_(False)).values(acked=True)
            )

    async def backlog(self) -> int:
        """Return how many records wait for the cloud."""
        async with self._db.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).where(outbox.c.acked.is_(False)))).scalar() or 0
            )
