"""Timer rows changed within one loop iteration reach SQLite as one write, in order, the latest change per timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.rules.store import TimerRows
from edge.storage.database import Database

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


async def test_changes_of_one_iteration_are_one_write_with_the_latest_state(tmp_path: Path) -> None:
    db = Database(tmp_path / "edge.db")
    await db.migrate()
    try:
        rows = TimerRows(db)
        rows.put("a", "absence", T0, {"n": 0})
        await rows.flush()
        writes_before = db.writer.writes
        # A burst: an absence timer re-armed three times, a waiting run set then cancelled, a rule's timers set
        # and then all removed before one is set again.
        for n in range(1, 4):
            rows.put("a", "absence", T0 + timedelta(seconds=n), {"n": n})
        rows.put("b", "for", T0, {"trigger": "x"})
        rows.remove("b", "for")
        rows.put("c", "for", T0, {})
        rows.put("c", "relay-off:lamp", T0, {})
        rows.remove("c")
        rows.put("c", "absence", T0 + timedelta(minutes=5), {"again": True})
        await rows.flush()
        assert db.writer.writes == writes_before + 1
        stored = {(rule_id, key): (due, payload) for rule_id, key, due, payload in await rows.load()}
        assert stored == {
            ("a", "absence"): (T0 + timedelta(seconds=3), {"n": 3}),
            ("c", "absence"): (T0 + timedelta(minutes=5), {"again": True}),
        }
    finally:
        await db.close()


async def test_a_payload_changed_after_put_is_stored_as_it_was(tmp_path: Path) -> None:
    db = Database(tmp_path / "edge.db")
    await db.migrate()
    try:
        rows = TimerRows(db)
        payload = {"values": {"door": "front"}}
        rows.put("a", "for", T0, payload)
        payload["values"] = {"door": "back"}
        await rows.flush()
        assert [p for _r, _k, _d, p in await rows.load()] == [{"values": {"door": "front"}}]
    finally:
        await db.close()
