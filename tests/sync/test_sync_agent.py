"""The edge sync agent against a real cloud on loopback and a real edge SQLite outbox.

Poisoned records are quarantined and the rest delivered; the retry backoff is capped, reset by each delivered
batch, and cut short once the cloud answers its health probe.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from provisioning.enroll import claim_site
from sync.agent import SyncAgent
from sync.backoff import Backoff
from sync.wire import EnrollResponse, RecordRejection, SyncRecord
from tests.net import free_port
from tests.polling import eventually


@pytest.fixture
async def edge_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture
def cloud_config(tmp_path: Path, db_url: str) -> CloudConfig:
    return CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=free_port())


async def enroll_site(cloud: RunningCloud) -> EnrollResponse:
    boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
    assert boot.enrollment is not None
    return await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")


async def stored_payloads(cloud: RunningCloud, site_id: str) -> dict[int, dict[str, object]]:
    async with cloud.db() as session:
        rows = (await session.execute(select(Record.seq, Record.payload).where(Record.site_id == site_id))).all()
    return {seq: payload for seq, payload in rows}


def test_backoff_stays_within_the_cap_and_resets_on_success() -> None:
    backoff = Backoff(2.0, 60.0, rng=random.Random(8))
    delays = [backoff.failed() for _ in range(2000)]
    assert max(delays) <= 60.0
    assert min(delays[10:]) >= 45.0  # jitter spreads retries below the cap, never above it
    assert 2.0 < delays[0] <= 4.0

    backoff.succeeded()

    assert backoff.failed() <= 4.0


async def test_poisoned_records_are_quarantined_and_the_rest_delivered(
    cloud_config: CloudConfig, edge_db: Database
) -> None:
    """On PostgreSQL too: a NUL in a typed name is stored (as U+FFFD), not a reason to stop the site's sync."""
    journal = Journal(edge_db)
    await journal.record("audit", {"person": "Ann"}, source="reader-front", summary="granted Ann")
    await journal.record("audit", {"person": "Bob\x00by"}, source="reader-front", summary="granted Bob\x00by")
    surrogate = await journal.record("audit", {"person": "Eve\ud800"}, source="reader-front", summary="granted Eve")
    with sqlite3.connect(edge_db.path) as conn:  # a row no sync record can be made of (an older edge's kind)
        conn.execute(
            "INSERT INTO outbox (kind, occurred_at, payload, acked) VALUES ('gossip', '2026-01-01 00:00:00', '{}', 0)"
        )
    for n in range(5):
        await journal.record("event", {"type": "test", "n": n}, source="t", summary=f"after {n}")
    outbox = Outbox(edge_db)

    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=3)
        try:
            delivered = await agent.flush()
        finally:
            await agent.stop(flush_timeout_s=1)
        stored = await stored_payloads(cloud, site.site_id)

    assert delivered == 7
    assert await outbox.backlog() == 0
    assert sorted(stored) == [1, 2, 5, 6, 7, 8, 9]
    assert stored[2]["person"] == "Bob\ufffdby"
    quarantined = await outbox.quarantined()
    assert [(q.seq, q.error) for q in quarantined] == [(3, "unencodable"), (4, "unreadable_record")]
    assert "surrogate" in quarantined[0].detail and "kind" in quarantined[1].detail
    assert quarantined[0].payload["journal_id"] == surrogate.id
    assert agent.quarantined == 1  # the agent set one aside; the outbox itself the unreadable one


class ListOutbox:
    """A sender whose records the edge's own models would not build (the cloud refuses them by name)."""

    def __init__(self, records: list[SyncRecord]) -> None:
        self.records = records
        self.acked = 0
        self.quarantined: dict[int, RecordRejection] = {}

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        waiting = (r for r in self.records if r.seq > self.acked and r.seq not in self.quarantined)
        return [r for r in waiting if r.seq not in exclude][:limit]

    async def mark_acked(self, seqs: Sequence[int]) -> None:
        self.acked = max(self.acked, *seqs)

    async def quarantine(self, rejections: Sequence[RecordRejection]) -> None:
        self.quarantined.update({r.seq: r for r in rejections})


async def test_records_the_cloud_refuses_are_quarantined(cloud_config: CloudConfig) -> None:
    now = datetime.now(UTC)
    far = datetime.fromisoformat("9999-12-31T23:00:00-05:00")
    records = [
        SyncRecord.model_construct(seq=seq, kind="event", occurred_at=far if seq in (3, 8) else now, payload={"n": seq})
        for seq in range(1, 11)
    ]
    outbox = ListOutbox(records)
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=4)
        try:
            await agent.flush()
        finally:
            await agent.stop(flush_timeout_s=1)
        stored = await stored_payloads(cloud, site.site_id)

    assert sorted(stored) == [1, 2, 4, 5, 6, 7, 9, 10]
    assert sorted(outbox.quarantined) == [3, 8]
    assert "occurred_at" in outbox.quarantined[3].detail
    assert agent.last_error is None


class LoggingOutbox(ListOutbox):
    """Logs the agent's reads and acknowledgements in order."""

    def __init__(self, records: list[SyncRecord]) -> None:
        super().__init__(records)
        self.log: list[tuple[str, list[int]]] = []

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        records = await super().pending(limit, exclude)
        self.log.append(("read", [r.seq for r in records]))
        return records

    async def mark_acked(self, seqs: Sequence[int]) -> None:
        self.log.append(("acked", list(seqs)))
        await super().mark_acked(seqs)


async def test_the_next_batch_is_read_while_one_is_in_flight_and_acks_stay_exact(cloud_config: CloudConfig) -> None:
    now = datetime.now(UTC)
    outbox = LoggingOutbox([SyncRecord(seq=s, kind="event", occurred_at=now, payload={"n": s}) for s in range(1, 6)])
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=2)
        try:
            delivered = await agent.flush()
        finally:
            await agent.stop(flush_timeout_s=1)
        stored = await stored_payloads(cloud, site.site_id)

    assert delivered == 5 and sorted(stored) == [1, 2, 3, 4, 5] and agent.batches_sent == 3
    assert [seqs for step, seqs in outbox.log if step == "acked"] == [[1, 2], [3, 4], [5]]
    # Read ahead: batch n+1 was read before batch n was acknowledged.
    assert outbox.log[:3] == [("read", [1, 2]), ("read", [3, 4]), ("acked", [1, 2])]


async def test_batches_grow_while_they_come_back_full_up_to_the_catch_up_size(cloud_config: CloudConfig) -> None:
    now = datetime.now(UTC)
    outbox = LoggingOutbox([SyncRecord(seq=s, kind="event", occurred_at=now, payload={"n": s}) for s in range(1, 41)])
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(
            outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=2, catch_up_batch_size=8
        )
        try:
            delivered = await agent.flush()
        finally:
            await agent.stop(flush_timeout_s=1)
        stored = await stored_payloads(cloud, site.site_id)

    assert delivered == 40 and sorted(stored) == list(range(1, 41))
    acked = [seqs for step, seqs in outbox.log if step == "acked"]
    assert [len(seqs) for seqs in acked] == [2, 4, 8, 8, 8, 8, 2]  # doubling while full, capped, then the rest
    assert [s for seqs in acked for s in seqs] == list(range(1, 41))  # each record acknowledged once, in order


async def test_health_probe_ends_the_backoff_once_the_cloud_is_back(
    cloud_config: CloudConfig, edge_db: Database
) -> None:
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
    # The cloud is down; the first failure pauses 12-16 s (base 8 s, doubled).
    outbox = Outbox(edge_db)
    await Journal(edge_db).record("event", {"type": "test"}, source="t", summary="while down")
    agent = SyncAgent(
        outbox,
        cloud_url=f"http://127.0.0.1:{cloud_config.port}",
        site_id=site.site_id,
        secret=site.secret,
        interval_s=8.0,
        max_backoff_s=60.0,
        probe_interval_s=0.1,
    )
    await agent.start()
    try:
        await eventually(lambda: agent.retry_at is not None, timeout_s=10)
        retry_at = agent.retry_at
        assert retry_at is not None

        async with started_cloud(cloud_config):

            async def drained() -> bool:
                return await outbox.backlog() == 0

            await eventually(drained, timeout_s=10)
        assert datetime.now(UTC) < retry_at  # delivered before the pause would have ended
        assert agent.backoff.failures == 0
    finally:
        await agent.stop(flush_timeout_s=1)


async def test_a_failure_during_catch_up_waits_the_base_delay(
    cloud_config: CloudConfig, edge_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures before a catch-up do not count once batches go through: one more error is attempt 1, not 6."""
    caplog.set_level(logging.WARNING, logger="sync.agent")
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
    journal = Journal(edge_db)
    for n in range(3000):
        journal.submit("event", {"type": "test", "n": n}, source="t", summary="backlog")
    await journal.record("event", {"type": "test"}, source="t", summary="last")
    outbox = Outbox(edge_db)
    agent = SyncAgent(
        outbox,
        cloud_url=f"http://127.0.0.1:{cloud_config.port}",
        site_id=site.site_id,
        secret=site.secret,
        batch_size=5,
        interval_s=0.01,
        max_backoff_s=0.05,
        probe_interval_s=10,
    )
    await agent.start()
    try:
        await eventually(lambda: agent.backoff.failures >= 5, timeout_s=10)  # the cloud has been away a while
        async with started_cloud(cloud_config):

            async def catching_up() -> bool:
                return await outbox.backlog() < 2900

            await eventually(catching_up, timeout_s=20)
            seen = len(caplog.records)  # every failure logged from here on happened during the catch-up
        # The cloud went away again in the middle of the catch-up.
        assert await outbox.backlog() > 0
        await eventually(lambda: any("failed" in r.getMessage() for r in caplog.records[seen:]), timeout_s=10)
        first = next(r.getMessage() for r in caplog.records[seen:] if "failed" in r.getMessage())
        assert first.startswith("sync: attempt 1 failed"), first  # counted from the last delivered batch
    finally:
        await agent.stop(flush_timeout_s=0.1)


class FlakyOutbox(ListOutbox):
    """An outbox whose database fails once (e.g. locked by a long backup)."""

    def __init__(self, records: list[SyncRecord]) -> None:
        super().__init__(records)
        self.failed = False

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return await super().pending(limit, exclude)


async def test_an_outbox_error_does_not_end_the_agent(cloud_config: CloudConfig) -> None:
    now = datetime.now(UTC)
    outbox = FlakyOutbox([SyncRecord(seq=1, kind="event", occurred_at=now, payload={})])
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, interval_s=0.05)
        await agent.start()
        try:
            await eventually(lambda: outbox.acked == 1, timeout_s=10)
        finally:
            await agent.stop(flush_timeout_s=1)
    assert outbox.failed and agent.backoff.failures == 0


async def test_large_records_go_in_smaller_batches_and_one_too_large_is_quarantined(
    cloud_config: CloudConfig, edge_db: Database
) -> None:
    journal = Journal(edge_db)
    big = "x" * (3 * 1024 * 1024)  # four of them are more JSON than a batch may hold; each alone fits
    for n in range(2):
        await journal.record("detection", {"n": n, "blob": big}, source="cam", summary=f"big {n}")
    await journal.record("detection", {"n": 2, "blob": big * 3}, source="cam", summary="too big")
    for n in range(3, 5):
        await journal.record("detection", {"n": n, "blob": big}, source="cam", summary=f"big {n}")
    outbox = Outbox(edge_db)
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=5)
        try:
            delivered = await agent.flush()
        finally:
            await agent.stop(flush_timeout_s=1)
        async with cloud.db() as session:
            stored = sorted((await session.scalars(select(Record.seq).where(Record.site_id == site.site_id))).all())

    assert delivered == 4 and stored == [1, 2, 4, 5]
    assert [(q.seq, q.error) for q in await outbox.quarantined()] == [(3, "too_large")]
    assert await outbox.backlog() == 0


async def test_retry_now_ends_a_pause(cloud_config: CloudConfig, edge_db: Database) -> None:
    async with started_cloud(cloud_config) as cloud:
        site = await enroll_site(cloud)
    outbox = Outbox(edge_db)
    await Journal(edge_db).record("event", {"type": "test"}, source="t", summary="while down")
    agent = SyncAgent(
        outbox,
        cloud_url=f"http://127.0.0.1:{cloud_config.port}",
        site_id=site.site_id,
        secret=site.secret,
        interval_s=8.0,
        probe_interval_s=600,  # no probe within the pause: only retry_now can end it early
    )
    await agent.start()
    try:
        await eventually(lambda: agent.retry_at is not None, timeout_s=10)
        retry_at = agent.retry_at
        assert retry_at is not None
        async with started_cloud(cloud_config):
            agent.retry_now()  # e.g. the operator's "Retry now" button

            async def drained() -> bool:
                return await outbox.backlog() == 0

            await eventually(drained, timeout_s=10)
        assert datetime.now(UTC) < retry_at
    finally:
        await agent.stop(flush_timeout_s=1)
