"""The journal's dedicated writer: rows as SQLAlchemy stores them, durable before the caller hears, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.schema import events, outbox


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608 - fixed table names


async def test_rows_are_what_sqlalchemy_would_store(db: Database) -> None:
    when = datetime(2026, 6, 10, 8, 0, 0, 123456, tzinfo=UTC)
    payload = {"type": "access_decision", "person": "Zoë", "granted": True, "level": None, "n": [1, 2.5]}
    entry = await Journal(db).record("audit", payload, source="reader-front", summary="GRANTED Zoë", occurred_at=when)
    # The same two rows written the way the journal wrote them before (SQLAlchemy Core).
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(events).values(
                kind="audit", occurred_at=when, source="reader-front", summary="GRANTED Zoë", payload=payload
            )
        )
        body = {"source": "reader-front", "summary": "GRANTED Zoë", **payload}
        await conn.execute(
            insert(outbox).values(kind="audit", occurred_at=when, payload={"journal_id": entry.id, **body})
        )
    written, reference = rows(db.path, "events")
    assert written[1:] == reference[1:]
    assert entry.id == written[0]
    queued, reference = rows(db.path, "outbox")
    assert queued[1:] == reference[1:]
    record = (await Outbox(db).pending(10))[0]  # the journal's row (the reference row follows)
    assert record.payload == {"journal_id": entry.id, **body}
    assert record.occurred_at == when


async def test_a_time_with_an_offset_is_stored_as_the_same_instant(db: Database) -> None:
    """A device reporting local time (+02:00) is stored and read back as that instant in UTC, not its wall time."""
    local = datetime(2026, 6, 10, 10, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    journal = Journal(db)
    entry = await journal.record("event", {"type": "contact"}, occurred_at=local)
    assert entry.occurred_at == local and entry.occurred_at.tzinfo is UTC
    (stored,) = await journal.recent(1)
    assert stored.occurred_at == local
    assert stored.occurred_at == datetime(2026, 6, 10, 8, 0, 0, tzinfo=UTC)
    assert (await Outbox(db).pending(10))[0].occurred_at == local


async def test_a_record_is_on_disk_when_the_caller_hears_of_it(db: Database) -> None:
    journal = Journal(db)
    heard: list[int] = []
    journal.subscribe(lambda entry: heard.append(entry.id))
    for i in range(20):
        entry = await journal.record("event", {"type": "test", "n": i}, source="t")
        # Read through an unrelated connection, as after a power cut: the row is committed.
        with sqlite3.connect(db.path) as other:
            assert other.execute("SELECT count(*) FROM events WHERE id = ?", (entry.id,)).fetchone() == (1,)
    assert heard == list(range(1, 21))


async def test_records_queued_together_share_one_commit_in_order(db: Database) -> None:
    journal = Journal(db)
    entries = await asyncio.gather(*(journal.record("telemetry", {"n": i}, source=f"s{i}") for i in range(50)))
    assert [e.payload["n"] for e in entries] == list(range(50))
    assert [e.id for e in entries] == sorted(e.id for e in entries)  # ids follow submission order
    assert db.writer.writes == 50
    assert db.writer.commits < 50  # group commit: one fsync for many records
    assert len(rows(db.path, "outbox")) == 50


async def test_a_failing_write_fails_alone(db: Database) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO events (kind) VALUES ('x')")  # NOT NULL columns missing

    journal = Journal(db)
    good = journal.submit("event", {"n": 1})
    bad = db.writer.submit(broken)
    also_good = journal.submit("event", {"n": 2})
    with pytest.raises(sqlite3.IntegrityError):
        await bad
    assert [(await good).payload, (await also_good).payload] == [{"n": 1}, {"n": 2}]
    assert len(rows(db.path, "events")) == 2


async def test_an_unencodable_payload_is_refused_before_anything_is_queued(db: Database) -> None:
    with pytest.raises(TypeError):
        Journal(db).submit("event", {"when": object()})
    assert rows(db.path, "events") == []


async def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    db = Database(tmp_path / "edge.db")
    await db.migrate()
    pending = [
        Journal(db).submit("event", {"n": i}, occurred_at=datetime.now(timezone(timedelta(hours=2)))) for i in range(5)
    ]
    await db.close()
    assert [(await p).payload["n"] for p in pending] == list(range(5))
    assert len(rows(tmp_path / "edge.db", "events")) == 5
    with pytest.raises(RuntimeError, match="closed"):
        Journal(db).submit("event", {})
