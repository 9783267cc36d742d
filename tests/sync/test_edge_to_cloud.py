"""Edge -> cloud over real HTTP: events made while the cloud is down arrive exactly once when it is back."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

from sqlalchemy import select

from cloud.admin import bootstrap_tenant
from cloud.app import started_cloud
from cloud.config import CloudConfig
from cloud.db.models import Record
from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from provisioning.enroll import claim_site
from sync.codec import PendingBatch
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.polling import eventually


async def test_offline_events_arrive_once_after_cloud_returns(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    cloud_config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=port)
    async with started_cloud(cloud_config) as cloud:
        boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
        assert boot.enrollment is not None
        enrollment = await asyncio.to_thread(claim_site, cloud.url, boot.enrollment.code, "box-1")
    # The cloud is now down.

    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            site={"id": enrollment.site_id, "name": enrollment.site_name, "timezone": "UTC"},
            cloud={
                "url": f"http://127.0.0.1:{port}",
                "secret": enrollment.secret,
                "sync_interval_s": 0.2,
                "max_backoff_s": 0.5,
            },
        )
    )
    site = enrollment.site_id
    edge = EdgeRunner(config)
    await edge.start()
    try:
        journal = edge.app[keys.JOURNAL]
        outbox = edge.app[keys.OUTBOX]
        expected = await outbox.backlog() + 25  # what the edge journals at start (its inventory report) and 25 events
        for i in range(25):
            await journal.record("event", {"type": "test", "n": i}, source="test", summary=f"offline {i}")
        sync = edge.app[keys.SYNC]
        assert sync is not None

        async def failed_once() -> bool:
            return sync.last_error is not None

        await eventually(failed_once, timeout_s=20)
        assert await outbox.backlog() == expected

        async with started_cloud(cloud_config) as cloud:

            async def drained() -> bool:
                return await outbox.backlog() == 0

            await eventually(drained, timeout_s=20)
            # Resend everything acknowledged: the cloud must not store it twice.
            sent = await _acked_records(edge)
            replay = await sync._send(  # noqa: SLF001 - replaying a real batch on purpose
                PendingBatch([r.model_copy() for r in sent])
            )
            assert replay.stored == 0 and replay.duplicates == len(sent)
            async with cloud.db() as session:
                rows = (await session.execute(select(Record.seq, Record.payload).where(Record.site_id == site))).all()
            seqs = [seq for seq, _ in rows]
            assert len(seqs) == len(set(seqs)) and {r.seq for r in sent} <= set(seqs)  # each record once
            # The offline events exactly once (the edge may journal more meanwhile, e.g. applying HQ's document).
            assert sorted(p["n"] for _, p in rows if p.get("type") == "test") == list(range(25))
    finally:
        await edge.stop()


async def _acked_records(edge: EdgeRunner):  # type: ignore[no-untyped-def]
    from sqlalchemy import select as sa_select

    from edge.storage.schema import outbox
    from sync.wire import SyncRecord

    async with edge.app[keys.DATABASE].engine.connect() as conn:
        rows = (await conn.execute(sa_select(outbox).where(outbox.c.acked.is_(True)).order_by(outbox.c.seq))).all()
    return [
        SyncRecord(seq=r.seq, kind=r.kind, occurred_at=r.occurred_at.replace(tzinfo=UTC), payload=r.payload)
        for r in rows
    ]
