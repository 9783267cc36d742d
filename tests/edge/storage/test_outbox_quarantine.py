"""The outbox on a real SQLite file: quarantined records stop blocking, stay listed, and can be released."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from sync.wire import RecordRejection


async def test_a_badge_reads_event_id_and_the_journal_id_are_distinct(db: Database) -> None:
    entry = await Journal(db).record("audit", {"event_id": "read-77", "granted": True}, source="r", summary="s")

    (record,) = await Outbox(db).pending(10)

    assert record.payload["event_id"] == "read-77"  # the badge read's own id survives
    assert record.payload["journal_id"] == entry.id


async def test_a_payload_may_not_use_the_journals_own_keys(db: Database) -> None:
    journal = Journal(db)
    for key in ("journal_id", "source", "summary"):
        with pytest.raises(ValueError, match=key):
            await journal.record("event", {key: 1})
    assert await Outbox(db).backlog() == 0


async def test_quarantined_records_are_skipped_listed_and_released(db: Database) -> None:
    journal = Journal(db)
    for n in range(6):
        await journal.record("event", {"n": n}, occurred_at=datetime(2026, 1, 1, 8, n, tzinfo=UTC))
    outbox = Outbox(db)
    await outbox.quarantine(
        [RecordRejection(seq=1, error="invalid_record", detail="bad"), RecordRejection(seq=3, error="x", detail="y")]
    )

    assert [r.seq for r in await outbox.pending(3)] == [2, 4, 5]
    assert await outbox.backlog() == 4
    assert await outbox.oldest_pending() == datetime(2026, 1, 1, 8, 1, tzinfo=UTC)
    await outbox.mark_acked([1, 2, 3, 4, 5, 6])  # quarantined records stay unacknowledged all the sames
    assert await outbox.backlog() == 0 and await outbox.oldest_pending() is None
    listed = await outbox.quarantined()
    assert [(q.seq, q.error, q.detail, q.payload["n"]) for q in listed] == [
        (1, "invalid_record", "bad", 0),
        (3, "x", "y", 2),
    ]
    assert await outbox.quarantine_count() == 2

    assert await outbox.release([3]) == 1

    assert [r.seq for r in await outbox.pending(10)] == [3]
    assert await outbox.quarantine_count() == 1
