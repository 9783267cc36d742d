"""The device event ids a restarted edge remembers: the newest per device, read through migration 16's index."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event

from edge.storage.database import Database
from edge.storage.device_events import recent_device_event_ids
from edge.storage.journal import Journal


async def test_the_newest_ids_per_device_oldest_first(db: Database) -> None:
    journal = Journal(db)
    for n in range(300):
        await journal.submit("audit", {"type": "access_decision", "event_id": f"r{n}"}, source="reader-a")
        if n % 60 == 0:
            await journal.submit("event", {"type": "door_contact", "event_id": f"c{n}"}, source="contact-b")
            await journal.submit("telemetry", {"values": {"t": 20.0}}, source="sensor-c")
    await journal.record("audit", {"type": "manual_command", "door_id": "front"}, source="console:ada")

    recent = await recent_device_event_ids(db, 256)

    assert recent == {
        "reader-a": [f"r{n}" for n in range(44, 300)],
        "contact-b": [f"c{n}" for n in range(0, 300, 60)],
    }


async def test_read_by_index_seeks_not_a_scan_of_the_journal(db: Database) -> None:
    journal = Journal(db)
    for n in range(20):
        await journal.submit("audit", {"event_id": f"r{n}"}, source=f"reader-{n % 4}")
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await recent_device_event_ids(db, 256)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)

    selects = [(s, p) for s, p in seen if "events" in s]
    assert len(selects) == 5  # the devices, then one read per device
    with sqlite3.connect(db.path) as conn:
        for statement, params in selects:
            plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params))
            assert "ix_events_device_event" in plan, plan
            assert "SCAN events" not in plan and "TEMP B-TREE" not in plan, plan
