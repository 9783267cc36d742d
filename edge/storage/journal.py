"""The site journal: every event is stored locally and queued for the cloud in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from edge.storage.database import Database
from edge.storage.schema import events, outbox
from sync.wire import RecordKind, SyncRecord

_INSERT_EVENT = "INSERT INTO events (kind, occurred_at, source, summary, payload) VALUES (?, ?, ?, ?, ?)"
_INSERT_OUTBOX = "INSERT INTO outbox (kind, occurred_at, payload, acked) VALUES (?, ?, ?, 0)"


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
    """`value` in UTC: SQLite keeps no offset, so every stored time is UTC (naive input is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class Journal:
    """Writes events durably (event row + outbox row, one commit) and serves them back.

    Writes go through the database's dedicated writer connection (`edge.storage.writer`): one thread hop per
    record instead of SQLAlchemy's five to eight, and records queued during a commit share the next one. Values
    are encoded with the dialect's own bind processors, so rows are byte for byte what SQLAlchemy would store.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[JournalEntry], None]] = []
        dialect = db.engine.dialect
        self._encode_time = events.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._encode_json = events.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
        assert self._encode_time is not None and self._encode_json is not None

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
        return await self.submit(kind, payload, source=source, summary=summary, occurred_at=occurred_at)

    def submit(
        self,
        kind: RecordKind,
        payload: dict[str, Any],
        *,
        source: str = "",
        summary: str = "",
        occurred_at: datetime | None = None,
    ) -> asyncio.Future[JournalEntry]:
        """Queue an event for the next commit now; the future resolves once it is on disk.

        For callers that have other work to do meanwhile (the access service commands a lock while its
        audit record is committed). A payload that cannot be encoded raises here, before anything is queued.
        """
        when = _aware(occurred_at or datetime.now(UTC))
        body = {"source": source, "summary": summary, **payload}
        when_value = self._encode_time(when)  # type: ignore[misc]
        payload_json = self._encode_json(payload)  # type: ignore[misc]
        encode_json = self._encode_json

        def write(conn: sqlite3.Connection) -> JournalEntry:
            event_id = conn.execute(_INSERT_EVENT, (kind, when_value, source, summary, payload_json)).lastrowid
            assert event_id is not None
            conn.execute(_INSERT_OUTBOX, (kind, when_value, encode_json({"event_id": event_id, **body})))  # type: ignore[misc]
            return JournalEntry(event_id, kind, when, source, summary, payload)

        return self._db.writer.submit(write, on_commit=self._notify)

    def _notify(self, entry: JournalEntry) -> None:
        # On the loop, after the commit, also for a record whose caller stopped waiting.
        for listener in list(self._listeners):
            listener(entry)

    async def recent(self, limit: int = 50, kind: str | None = None) -> list[JournalEntry]:
        """Return the newest events first."""
        query = select(events).order_by(events.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JournalEntry(r.id, r.kind, _aware(r.occurred_at), r.source, r.summary, r.payload) for r in rows]


class Outbox:
    """The queue of records not yet acknowledged by the cloud (implements sync.agent.OutboxSource)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def pending(self, limit: int) -> list[SyncRecord]:
        """Return up to `limit` unacknowledged records, oldest first."""
        query = select(outbox).where(outbox.c.acked.is_(False)).order_by(outbox.c.seq).limit(limit)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [SyncRecord(seq=r.seq, kind=r.kind, occurred_at=_aware(r.occurred_at), payload=r.payload) for r in rows]

    async def mark_acked(self, up_to_seq: int) -> None:
        """Mark every record with seq <= `up_to_seq` as delivered."""
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.seq <= up_to_seq, outbox.c.acked.is_(False)).values(acked=True)
            )

    async def backlog(self) -> int:
        """Return how many records wait for the cloud."""
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).where(outbox.c.acked.is_(False)))).scalar() or 0)
