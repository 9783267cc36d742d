"""Analytics partitions (PostgreSQL) and retention (every backend): months ahead exist, a month that landed in
the default partition gets its own, expired months are dropped, and a tenant's old records, facts and hourly
rollups are deleted while recent ones stay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cloud_helpers import enroll, make_tenant
from sqlalchemy import func, select, text

from cloud.analytics.facts import FACT_TABLES, HOURLY
from cloud.analytics.partitions import (
    AHEAD_MONTHS,
    PARTITIONED,
    month_start,
    next_month,
    partition_name,
    run_maintenance,
)
from cloud.app import RunningCloud
from cloud.cli import main
from cloud.db.models import Record
from cloud.ingest import store_batch
from sync.wire import SyncBatch, SyncRecord, new_nonce

FACTS = FACT_TABLES["access"]


def decision(seq: int, at: datetime) -> SyncRecord:
    payload = {"type": "access_decision", "door_id": "front", "credential": "42", "granted": False, "reason": "x"}
    return SyncRecord(seq=seq, kind="audit", occurred_at=at, payload=payload)


async def old_and_new(cloud: RunningCloud, http: httpx.AsyncClient, now: datetime) -> tuple[str, datetime]:
    """A site with one access decision 150 days ago and one now; return (site_id, old time)."""
    made = await make_tenant(cloud, "Acme")
    site = await enroll(http, made.code)
    old = now - timedelta(days=150)
    batch = SyncBatch(
        site_id=site.site_id, sent_at=now, nonce=new_nonce(), records=[decision(1, old), decision(2, now)]
    )
    await store_batch(cloud.db, batch)
    return site.site_id, old


async def count(cloud: RunningCloud, table: object, where: object = None) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    async with cloud.db() as session:
        return int(await session.scalar(query) or 0)


async def partitions_of(cloud: RunningCloud, table: str) -> set[str]:
    sql = text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
    )
    async with cloud.db() as session:
        return set((await session.execute(sql, {"t": table})).scalars())


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_months_ahead_exist_a_stray_month_gets_its_partition_and_expired_ones_are_dropped(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    async with cloud.db() as session:
        partitioned = set(
            (
                await session.execute(text("SELECT relid::regclass::text FROM pg_partition_tree('fact_access')"))
            ).scalars()
        )
    months = [month_start(now.date())]
    for _ in range(AHEAD_MONTHS):
        months.append(next_month(months[-1]))
    for table in PARTITIONED:
        assert {partition_name(table, m) for m in months} | {f"{table}_default"} <= await partitions_of(cloud, table)
    assert "fact_access_default" in partitioned
    site_id, old = await old_and_new(cloud, http, now)
    stray = partition_name("fact_access", month_start(old.date()))
    async with cloud.db() as session:
        assert await session.scalar(text("SELECT count(*) FROM fact_access_default")) == 1

    kept = await run_maintenance(cloud.db, now, default_retention_days=3650)

    raw_stray = partition_name("records", month_start(old.date()))
    assert stray in kept.created and partition_name("rollup_hourly", month_start(old.date())) in kept.created
    assert raw_stray in kept.created  # the raw records are partitioned like the facts (0021)
    async with cloud.db() as session:
        assert await session.scalar(text("SELECT count(*) FROM fact_access_default")) == 0
        assert await session.scalar(text(f"SELECT count(*) FROM {stray}")) == 1
    assert await count(cloud, FACTS) == 2

    expired = await run_maintenance(cloud.db, now, default_retention_days=60)

    assert stray in expired.dropped and raw_stray in expired.dropped
    assert stray not in await partitions_of(cloud, "fact_access")
    assert await count(cloud, FACTS) == 1
    assert await count(cloud, Record.__table__, Record.site_id == site_id) == 1


async def test_retention_deletes_a_tenants_old_rows_and_keeps_recent_ones(
    cloud: RunningCloud, http: httpx.AsyncClient, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    site_id, old = await old_and_new(cloud, http, now)
    assert await count(cloud, HOURLY, HOURLY.c.bucket < now - timedelta(days=100)) > 0
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "{tmp_path / "cli"}"\ndatabase_url = "{db_url}"\n', encoding="utf-8")

    status = await asyncio.to_thread(
        main, ["analytics", "maintain", "--config", str(config), "--default-retention-days", "90"]
    )

    assert status == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["deleted"]["records"] == 1 and report["deleted"]["fact_access"] == 1
    assert await count(cloud, Record.__table__, Record.site_id == site_id) == 1
    assert await count(cloud, FACTS) == 1
    assert await count(cloud, HOURLY, HOURLY.c.bucket < now - timedelta(days=100)) == 0
    assert await count(cloud, HOURLY, HOURLY.c.bucket > now - timedelta(days=1)) > 0
    assert old < now - timedelta(days=90)
