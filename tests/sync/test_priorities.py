"""Priorities in one outbox: audit and events overtake telemetry, telemetry is thinned under the disk budget and
the thinning is reported, shown by the portal; every audit and alarm record arrives exactly once.

Real parts: the edge's SQLite outbox, the real cloud on loopback (SQLite and PostgreSQL), the real sync agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from edge.config.storage import StorageConfig
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from edge.storage.thinning import OutboxThinner
from provisioning.enroll import claim_site
from sync.agent import SyncAgent
from sync.thinning import ThinningReport
from tests.polling import eventually

PASSWORD = "correct-horse-1"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def edge_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    yield db
    await db.close()


async def _journal_mix(journal: Journal) -> None:
    """3 devices x 120 telemetry readings 5 s apart, with an audit record every 10th and an alarm every 40th."""
    for i in range(120):
        at = T0 + timedelta(seconds=5 * i)
        for device in ("meter-1", "meter-2", "meter-3"):
            await journal.record("telemetry", {"device_id": device, "values": {"v": i}}, source=device, occurred_at=at)
        if i % 10 == 0:
            await journal.record("audit", {"n": i, "decision": "granted"}, source="reader-1", occurred_at=at)
        if i % 40 == 0:
            await journal.record("event", {"n": i, "type": "door_forced"}, source="door-1", occurred_at=at)


async def test_priority_kinds_overtake_a_telemetry_backlog(edge_db: Database) -> None:
    journal = Journal(edge_db)
    await _journal_mix(journal)
    outbox = Outbox(edge_db)

    first = await outbox.pending(20)

    # 12 audit + 3 events come first, whatever their seq; telemetry fills the rest of the batch, oldest first.
    assert [r.kind for r in first].count("telemetry") == 5
    assert {r.kind for r in first if r.seq > first[4].seq} >= {"audit"}
    assert [r.seq for r in first] == sorted(r.seq for r in first)
    await outbox.mark_acked([r.seq for r in first])
    left = await outbox.pending(10_000)
    assert {r.kind for r in left} == {"telemetry"}
    assert len(left) == 360 - 5  # acknowledged exactly what was sent, not "everything up to its highest seq"


async def test_reading_past_a_batch_in_flight_gives_the_batch_read_after_its_acknowledgement(edge_db: Database) -> None:
    """The agent's read-ahead: `pending(n, exclude=in_flight)` before the ack equals `pending(n)` after it."""
    await _journal_mix(Journal(edge_db))
    outbox = Outbox(edge_db)
    batch = await outbox.pending(10)
    while batch:
        ahead = await outbox.pending(10, exclude={r.seq for r in batch})
        await outbox.mark_acked([r.seq for r in batch])
        after = await outbox.pending(10)
        assert [r.seq for r in ahead] == [r.seq for r in after]
        batch = after
    assert await outbox.backlog() == 0


def test_outbox_budget_is_validated() -> None:
    assert StorageConfig().outbox_budget_bytes == 512 * 1024 * 1024
    with pytest.raises(ValueError, match="outbox_budget_mb"):
        StorageConfig.model_validate({"outbox_budget_mb": 0})


async def test_thinning_keeps_audit_reports_the_hole_and_the_portal_shows_it(
    tmp_path: Path, db_url: str, edge_db: Database
) -> None:
    journal = Journal(edge_db)
    await _journal_mix(journal)
    outbox = Outbox(edge_db)
    thinner = OutboxThinner(edge_db, budget_bytes=8 * 1024)

    result = await thinner.enforce()

    assert result.before_bytes > 8 * 1024 and result.reports
    assert result.reports[0].kept == "the last per device per 60 s"
    assert result.reports[0].thinned_kind == "telemetry"
    assert result.reports[0].first_at == T0
    waiting = await outbox.pending(10_000)
    kinds = [r.kind for r in waiting]
    assert kinds.count("audit") == 12 and kinds.count("event") == 3  # never dropped
    assert kinds.count("thinning") == len(result.reports)
    thinned = sum(r.count for r in result.reports)
    assert kinds.count("telemetry") == 360 - thinned > 0

    config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=0)
    async with started_cloud(config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", PASSWORD, site_name="Depot")
        assert boot.enrollment is not None
        site = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
        agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=7)
        try:
            await agent.flush()
            await agent.flush()  # a second pass finds nothing: nothing is sent twice
        finally:
            await agent.stop(flush_timeout_s=1)
        async with cloud.db() as session:
            rows = (await session.execute(select(Record).where(Record.site_id == site.site_id))).scalars().all()
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            login = await http.post("/api/v1/login", json={"email": "admin@acme.example", "password": PASSWORD})
            assert login.status_code == 200
            page = await http.get(f"/portal/sites/{site.site_id}")

    assert await outbox.backlog() == 0
    audits = [r.payload["n"] for r in rows if r.kind == "audit"]
    events = [r.payload["n"] for r in rows if r.kind == "event"]
    assert sorted(audits) == list(range(0, 120, 10))  # each exactly once
    assert sorted(events) == [0, 40, 80]
    assert sum(r.kind == "telemetry" for r in rows) == 360 - thinned
    reports = [
        ThinningReport.model_validate({k: r.payload[k] for k in ThinningReport.model_fields})
        for r in rows
        if r.kind == "thinning"
    ]
    assert sum(r.count for r in reports) == thinned
    assert page.status_code == 200
    assert 'data-testid="thinning-report"' in page.text
    assert f">{result.reports[0].count}<" in page.text and "the last per device per 60 s" in page.text


async def test_the_running_thinner_checks_the_budget_on_its_own(edge_db: Database) -> None:
    journal = Journal(edge_db)
    await _journal_mix(journal)
    thinner = OutboxThinner(edge_db, budget_bytes=8 * 1024, check_interval_s=0.05)
    await thinner.start()
    try:
        await eventually(lambda: thinner.total_thinned > 0)
    finally:
        await thinner.stop()
    events = await journal.recent(5, kind="thinning")
    assert events and "telemetry records dropped" in events[0].summary  # in the local journal too
