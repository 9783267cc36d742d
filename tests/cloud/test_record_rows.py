"""The ingest's pre-encoded rows (`cloud.record_rows`) store exactly what the model's own column types store.

Runs on SQLite and on PostgreSQL (`db_url`): each record is written twice, once through `insert_new_records` and once as
a plain insert through `Record`'s types, and both rows must read back equal (and, on SQLite, hold the same time
text, which the portal's range queries compare as text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, insert, select, text

from cloud.app import RunningCloud
from cloud.db.models import Record, Site
from cloud.record_rows import SQLITE_CHUNK, insert_new_records, storable
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, new_nonce

RECORDS = cast(Table, Record.__table__)
PLAIN = 1000  # the plain copy of record n is record PLAIN + n

PAYLOADS: list[dict[str, Any]] = [
    {"n": 1, "door": "front", "granted": True, "nothing": None},
    {"name": "Zoë 李 🚪", "quote": 'say "hi"\\ \n\t', "list": [1, 2.5, -3e-7, {"deep": [[]]}]},
    {"big": 2**70, "neg": -(2**64), "small": 2**63 - 1},
    {},
    {"nan": float("nan"), "inf": [float("inf"), float("-inf")], "nul\x00key": "a\x00b"},
]
TIMES = [
    datetime(2026, 12, 6, 22, 30, 16, 123456, tzinfo=UTC),
    datetime(2026, 12, 6, 22, 30, 16, tzinfo=UTC),  # no microseconds
    datetime(2026, 12, 7, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),  # another offset
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


async def test_encoded_rows_read_back_as_the_model_stores_them(cloud: RunningCloud, site: EnrollResponse) -> None:
    received = datetime(2026, 12, 6, 22, 0, 1, 5, tzinfo=timezone(timedelta(hours=-3)))
    records = [
        SyncRecord(seq=n, kind="audit", occurred_at=when, payload=payload)
        for n, (when, payload) in enumerate(zip(TIMES, PAYLOADS, strict=True), start=1)
    ]
    batch = SyncBatch(site_id=site.site_id, sent_at=received, nonce=new_nonce(), records=records)
    async with cloud.db() as session:
        tenant_id = await session.scalar(select(Site.tenant_id).where(Site.id == site.site_id))
    assert tenant_id is not None
    plain = [
        {
            "tenant_id": tenant_id,
            "site_id": site.site_id,
            "seq": PLAIN + r.seq,
            "kind": r.kind,
            "occurred_at": r.occurred_at,
            "payload": storable(r.payload),
            "received_at": received,
        }
        for r in records
    ]
    async with cloud.db.begin() as session:
        dialect = session.get_bind().dialect.name
        conn = await session.connection()
        payloads = [storable(r.payload) for r in records]
        new = await insert_new_records(conn, batch, payloads, received)
        again = await insert_new_records(conn, batch, payloads, received)
        await session.execute(insert(RECORDS), plain)

    assert sorted(new) == [1, 2, 3, 4, 5] and again == []  # duplicates are skipped
    async with cloud.db() as session:
        rows = {r.seq: r for r in await session.scalars(select(Record).where(Record.site_id == site.site_id))}
        raw = {
            seq: (occurred, received_text)
            for seq, occurred, received_text in await session.execute(
                text("SELECT seq, CAST(occurred_at AS TEXT), CAST(received_at AS TEXT) FROM records")
            )
        }
        if dialect == "postgresql":
            kinds = set(await session.scalars(text("SELECT jsonb_typeof(payload) FROM records")))
            assert kinds == {"object"}  # a JSON object, not a JSON string holding one
    for n in range(1, len(records) + 1):
        encoded, reference = rows[n], rows[PLAIN + n]
        assert encoded.payload == reference.payload, n
        assert encoded.occurred_at == reference.occurred_at == records[n - 1].occurred_at, n
        assert encoded.received_at == reference.received_at == received
        assert raw[n] == raw[PLAIN + n], n
    assert rows[5].payload == {"nan": None, "inf": [None, None], "nul\ufffdkey": "a\ufffdb"}


async def test_a_large_batch_returns_exactly_its_new_seqs(cloud: RunningCloud, site: EnrollResponse) -> None:
    """Past one SQLite statement's rows, with some records already stored: only the others come back."""
    when = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)
    count = 2 * SQLITE_CHUNK + 7

    def batch_of(seqs: range) -> SyncBatch:
        records = [SyncRecord(seq=n, kind="event", occurred_at=when, payload={"n": n}) for n in seqs]
        return SyncBatch(site_id=site.site_id, sent_at=when, nonce=new_nonce(), records=records)

    async with cloud.db.begin() as session:
        conn = await session.connection()
        first = batch_of(range(1, SQLITE_CHUNK + 2))
        assert sorted(await insert_new_records(conn, first, [r.payload for r in first.records], when)) == list(
            range(1, SQLITE_CHUNK + 2)
        )
        whole = batch_of(range(1, count + 1))
        new = await insert_new_records(conn, whole, [r.payload for r in whole.records], when)
        assert await insert_new_records(conn, batch_of(range(1, 1)), [], when) == []
    assert sorted(new) == list(range(SQLITE_CHUNK + 2, count + 1))
    async with cloud.db() as session:
        stored = await session.execute(select(Record.seq, Record.payload).where(Record.site_id == site.site_id))
        assert {seq: payload["n"] for seq, payload in stored} == {n: n for n in range(1, count + 1)}
