"""The timeline over a real SQLite journal of 5,000 records spanning five months: every filter, keyset pages in
both directions that add up to exactly the filtered set, and query plans on the migration-15 indexes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from edge.storage import event_query
from edge.storage.database import Database
from edge.storage.event_query import Cursor, EventFilter
from edge.storage.journal import Journal, JournalEntry
from tests.edge.event_history import DOORS, START, newest_first, seed_history

COUNT = 5_000


@pytest.fixture
async def history(tmp_path: Path) -> Any:
    db = Database(tmp_path / "edge.db")
    await db.migrate()
    written = await seed_history(Journal(db), COUNT)
    yield db, written
    await db.close()


async def _all_pages(db: Database, flt: EventFilter, size: int) -> list[list[int]]:
    pages: list[list[int]] = []
    after: Cursor | None = None
    while True:
        page = await event_query.page(db, flt, size, after)
        pages.append([e.id for e in page.entries])
        if page.older is None:
            return pages
        after = page.older


def _in(entry: JournalEntry, key: str, value: object) -> bool:
    return entry.payload.get(key) == value


FILTERS: list[tuple[str, EventFilter, Callable[[JournalEntry], bool]]] = [
    ("everything", EventFilter(), lambda e: True),
    ("kind", EventFilter(kind="audit"), lambda e: e.kind == "audit"),
    ("door", EventFilter(door="dock"), lambda e: _in(e, "door_id", "dock")),
    ("camera", EventFilter(camera="plaza"), lambda e: _in(e, "camera_id", "plaza")),
    ("person id", EventFilter(person_id=2), lambda e: _in(e, "person_id", 2)),
    ("person name", EventFilter(person="hopper"), lambda e: "Hopper" in str(e.payload.get("person"))),
    (
        "zone",
        EventFilter(zone="yard", zone_doors=tuple(d for d, z in DOORS.items() if z == "yard")),
        lambda e: _in(e, "zone", "yard") or _in(e, "door_id", "dock"),
    ),
    (
        "time range",
        EventFilter(since=START + timedelta(days=30), until=START + timedelta(days=61)),
        lambda e: START + timedelta(days=30) <= e.occurred_at < START + timedelta(days=61),
    ),
    (
        "door, kind and time",
        EventFilter(kind="event", door="front", since=START + timedelta(days=100)),
        lambda e: e.kind == "event" and _in(e, "door_id", "front") and e.occurred_at >= START + timedelta(days=100),
    ),
]


@pytest.mark.parametrize(("name", "flt", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
async def test_pages_add_up_to_the_filtered_set(history: Any, name: str, flt: EventFilter, keep: Any) -> None:
    db, written = history
    expected = newest_first(written, keep)
    assert expected, f"the seeded history has no record for {name}"
    pages = await _all_pages(db, flt, 200)
    assert [i for p in pages for i in p] == expected  # in order, none twice, none missing, no door snapshots
    assert all(len(p) == 200 for p in pages[:-1])


async def test_paging_back_returns_the_same_pages(history: Any) -> None:
    db, written = history
    flt = EventFilter(kind="audit")
    first = await event_query.page(db, flt, 50)
    assert first.newer is None and first.older is not None
    second = await event_query.page(db, flt, 50, first.older)
    third = await event_query.page(db, flt, 50, second.older)
    assert third.newer is not None
    back = await event_query.page(db, flt, 50, newer_than=third.newer)
    assert [e.id for e in back.entries] == [e.id for e in second.entries]
    again = await event_query.page(db, flt, 50, newer_than=back.newer)
    assert [e.id for e in again.entries] == [e.id for e in first.entries] and again.newer is None
    # Records written after the first page was read do not shift the older pages.
    await Journal(db).record("audit", {"type": "access_decision", "door_id": "front"}, summary="late")
    assert [e.id for e in (await event_query.page(db, flt, 50, first.older)).entries] == [e.id for e in second.entries]


async def test_older_from_an_empty_newer_page_starts_at_its_cursor(history: Any) -> None:
    db, _ = history
    flt = EventFilter(kind="audit")
    first = await event_query.page(db, flt, 50)
    newest = first.entries[0]
    empty = await event_query.page(db, flt, 50, newer_than=event_query.Cursor(newest.occurred_at, newest.id))
    assert empty.entries == [] and empty.newer is None and empty.older is not None
    back = await event_query.page(db, flt, 50, empty.older)
    assert [e.id for e in back.entries] == [e.id for e in first.entries]  # the cursor's own record included


async def test_door_snapshots_are_found_by_record(history: Any) -> None:
    db, written = history
    decisions = [e.id for e in written if e.payload.get("type") == "access_decision"]
    snaps = await event_query.snapshots_of(db, decisions[:70])
    assert sorted(s.payload["of_journal_id"] for s in snaps) == decisions[:70:7]


def test_cursor_tokens_round_trip_and_refuse_garbage() -> None:
    cursor = Cursor(datetime(2026, 4, 5, 6, 7, 8, 9, tzinfo=UTC), 4321)
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "x", "20261399T000000000000Z-1", "20260101T000000000000Z-" + "9" * 19, "20260101T000000000000Z"):
        with pytest.raises(ValueError, match="cursor|month|day|unconverted|does not match"):
            Cursor.decode(bad)


@contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)


PLANS = [
    (EventFilter(), "ix_events_occurred_at"),
    (EventFilter(kind="detection"), "ix_events_kind_time"),
    (EventFilter(door="front"), "ix_events_door_time"),
    (EventFilter(camera="plaza"), "ix_events_camera_time"),
    (EventFilter(person_id=3), "ix_events_person_time"),
]


@pytest.mark.parametrize(("flt", "index"), PLANS, ids=[p[1] for p in PLANS])
async def test_pages_read_an_index_in_order(history: Any, flt: EventFilter, index: str) -> None:
    db, _ = history
    first = await event_query.page(db, flt, 50)
    with _statements(db) as seen:
        await event_query.page(db, flt, 50, first.older)
    ((statement, params),) = seen
    assert "OFFSET" not in statement.upper()
    with sqlite3.connect(db.path) as conn:
        plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params))
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # read in timeline order from the index: no sort of the matches
