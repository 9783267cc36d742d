"""Fault: another connection holds the edge database's write lock longer than the busy timeout.

The writer runs its transaction again until the lock is released: badge reads and events accepted meanwhile are
all stored (in order, once each) and confirmed afterwards; the doors keep working while the database is held.
"""

from __future__ import annotations

import asyncio
import sqlite3

from edge import keys
from edge.app import EdgeRunner
from tests.edge.site import DeviceFactory
from tests.polling import eventually

BADGE = "0004217"


async def test_a_held_write_lock_delays_records_and_loses_none(edge_app: EdgeRunner, devices: DeviceFactory) -> None:
    db = edge_app.app[keys.DATABASE]
    journal = edge_app.app[keys.JOURNAL]
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
    reader = await devices("reader-front", "reader")
    lock = await devices("lock-front", "lock")
    before = {e.id for e in await journal.recent(1000)}

    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held past the writer's busy_timeout (5 s)
    try:
        badges = [await reader.present(BADGE) for _ in range(3)]
        notes = [journal.submit("event", {"type": "note", "n": n}, source="test") for n in range(5)]
        # The door opens although its audit record cannot be written yet (actuation is not acknowledgement).
        command = await asyncio.wait_for(lock.commands.get(), 10)
        assert command.action == "unlock"
        await eventually(lambda: db.writer.busy_retries >= 1, timeout_s=30)  # a whole busy_timeout ran out
        assert not reader.receipts and not any(note.done() for note in notes)  # nothing confirmed unwritten
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    for badge in badges:
        assert await reader.wait_receipt(badge.id, timeout_s=30), "a badge read was lost while the database was held"
    stored_notes = await asyncio.gather(*notes)
    assert [e.payload["n"] for e in stored_notes] == list(range(5))
    assert [e.id for e in stored_notes] == sorted(e.id for e in stored_notes)

    new = [e for e in await journal.recent(1000) if e.id not in before]
    audited = [e.payload["event_id"] for e in new if e.kind == "audit"]
    assert sorted(audited) == sorted(b.id for b in badges)  # each read once
    with sqlite3.connect(db.path) as conn:
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert outbox == events  # every stored record is queued for the cloud as well

    # And the writer is back to normal: a new record commits at once.
    after = await asyncio.wait_for(journal.record("event", {"type": "note", "n": 5}, source="test"), 5)
    assert after.id > max(e.id for e in stored_notes)


async def test_a_door_alarm_raised_while_the_database_is_held_is_listed(
    edge_app: EdgeRunner, devices: DeviceFactory
) -> None:
    db = edge_app.app[keys.DATABASE]
    alarms = edge_app.app[keys.ACCESS].supervisor.alarms
    await devices("lock-front", "lock")
    contact = await devices("contact-front", "contact")

    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        opened = await contact.set_open(True)  # forced open: no grant, the door is locked
        await eventually(lambda: db.writer.busy_retries >= 1, timeout_s=30)  # held past the busy timeout
        assert opened.id not in contact.receipts
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert await contact.wait_receipt(opened.id, timeout_s=30)

    async def forced() -> bool:
        return any(a.alarm == "forced_open" and a.active for a in await alarms.open_alarms())

    await eventually(forced, timeout_s=30)
