"""Analytics derived on ingest: rollups maintained batch by batch equal a rebuild from the raw records, exactly,
whatever order batches arrive in (late, replayed, out of order, 30 days late), in each site's local time across
DST days; occupancy is the camera's own count; the watermark follows the edge's backlog."""

from __future__ import annotations

import asyncio
import json
import random
import zoneinfo
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloud_helpers import enroll, make_tenant, send_batch
from sqlalchemy import Table, select, update

from bench._site_records import SiteRecords, stream
from cloud.analytics.facts import DAILY, DERIVED_TABLES, FACT_TABLES, HOURLY, INGEST_DAILY, OCCUPANCY, WATERMARK
from cloud.analytics.rebuild import rebuild
from cloud.app import RunningCloud
from cloud.cli import main
from cloud.db.models import Site
from cloud.ingest import store_batch
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, SyncStatus, new_nonce

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"


async def new_site(cloud: RunningCloud, http: httpx.AsyncClient, tenant: str, timezone: str) -> tuple[str, str]:
    """Enroll a site of a new tenant and set its time zone; return (tenant_id, site_id)."""
    made = await make_tenant(cloud, tenant)
    site = await enroll(http, made.code)
    async with cloud.db.begin() as session:
        await session.execute(update(Site).where(Site.id == site.site_id).values(timezone=timezone))
    return made.tenant_id, site.site_id


def batch(
    site_id: str, records: list[SyncRecord], status: SyncStatus | None = None, sent_at: datetime | None = None
) -> SyncBatch:
    return SyncBatch(
        site_id=site_id, sent_at=sent_at or datetime.now(UTC), nonce=new_nonce(), records=records, status=status
    )


async def snapshot(cloud: RunningCloud, tenant_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every derived row of the tenant, sorted (the watermark is not derived from records)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with cloud.db() as session:
        for table in (*DERIVED_TABLES, INGEST_DAILY):
            rows = (await session.execute(select(table).where(table.c.tenant_id == tenant_id))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def rows_of(cloud: RunningCloud, table: Table, site_id: str, **where: Any) -> list[Any]:
    query = select(table).where(table.c.site_id == site_id)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    async with cloud.db() as session:
        return list((await session.execute(query)).all())


def dst_records(seed: int, first_seq: int, days: list[date], tz: str) -> list[SyncRecord]:
    """Records every 7 minutes over the local days (and a margin), from a seeded mixed stream."""
    zone = zoneinfo.ZoneInfo(tz)
    site = SiteRecords(seed)  # one stream: the edge's alarm and track ids are unique per site
    out: list[SyncRecord] = []
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC) - timedelta(hours=2)
        for i in range(28 * 60 // 7):
            out.append(site.record(first_seq + len(out), start + i * timedelta(minutes=7)))
    return out


def expected_hours(records: list[SyncRecord], tz: str) -> Counter[datetime]:
    """Records per local hour, counted the plain way (independent of cloud.analytics.buckets)."""
    zone = zoneinfo.ZoneInfo(tz)
    hours: Counter[datetime] = Counter()
    for record in records:
        local = record.occurred_at.astimezone(zone)
        hours[local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)] += 1
    return hours


async def test_rollups_equal_a_rebuild_after_late_replayed_and_out_of_order_batches(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    ny_tenant, ny_site = await new_site(cloud, http, "Acme", NEW_YORK)
    be_tenant, be_site = await new_site(cloud, http, "Globex", BERLIN)
    # DST days: spring forward and fall back in each zone, the spring ones 30+ days older than the rest.
    ny = dst_records(1, 1, [date(2026, 3, 8), date(2026, 11, 1)], NEW_YORK)
    be = dst_records(2, 1, [date(2026, 3, 29), date(2026, 10, 25)], BERLIN)
    rng = random.Random(11)
    batches = [batch(ny_site, ny[i : i + 40]) for i in range(0, len(ny), 40)]
    batches += [batch(be_site, be[i : i + 40]) for i in range(0, len(be), 40)]
    spring = [b for b in batches if b.records[0].occurred_at.month == 3]
    rest = [b for b in batches if b.records[0].occurred_at.month != 3]
    rng.shuffle(rest)
    replays = [b.model_copy(update={"nonce": new_nonce()}) for b in rng.sample(batches, 6)]
    # Out of order, replayed, and every spring batch arriving after the autumn ones (over 30 days late).
    for sent in [*rest, *replays[:3], *spring, *replays[3:]]:
        await store_batch(cloud.db, sent)

    incremental = {ny_tenant: await snapshot(cloud, ny_tenant), be_tenant: await snapshot(cloud, be_tenant)}
    result = await rebuild(cloud.db)

    assert result.records == len(ny) + len(be)
    for tenant_id, before in incremental.items():
        assert await snapshot(cloud, tenant_id) == before
        assert all(before[t.name] for t in FACT_TABLES.values()), "every fact table got rows"
    for site_id, records, tz, short_day, long_day in (
        (ny_site, ny, NEW_YORK, date(2026, 3, 8), date(2026, 11, 1)),
        (be_site, be, BERLIN, date(2026, 3, 29), date(2026, 10, 25)),
    ):
        hourly = await rows_of(cloud, HOURLY, site_id, metric="records")
        assert {r.bucket: r.n for r in hourly} == expected_hours(records, tz)
        zone = zoneinfo.ZoneInfo(tz)
        hours_of = Counter(r.bucket.astimezone(zone).date() for r in hourly)
        assert hours_of[short_day] == 23 and hours_of[long_day] == 25
        daily = {r.day: r.n for r in await rows_of(cloud, DAILY, site_id, metric="records")}
        assert daily == Counter(r.occurred_at.astimezone(zone).date() for r in records)
        assert daily[long_day] == sum(
            n for b, n in expected_hours(records, tz).items() if b.astimezone(zone).date() == long_day
        )
        assert all(r.low is None or r.low >= 0 for r in await rows_of(cloud, HOURLY, site_id))


async def test_a_replayed_batch_changes_nothing(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    tenant_id, site_id = await new_site(cloud, http, "Acme", NEW_YORK)
    records = list(stream(5, datetime(2026, 6, 1, tzinfo=UTC), timedelta(minutes=3), 120))
    await store_batch(cloud.db, batch(site_id, records))
    once = await snapshot(cloud, tenant_id)

    ack = await store_batch(cloud.db, batch(site_id, records))

    assert ack.stored == 0 and ack.duplicates == len(records)
    assert await snapshot(cloud, tenant_id) == once


def count_record(seq: int, at: datetime, count: int) -> SyncRecord:
    payload = {"kind": "count", "camera_id": "cam-gate", "zone": "yard", "category": "person", "count": count}
    return SyncRecord(seq=seq, kind="detection", occurred_at=at, payload=payload)


async def test_occupancy_is_the_cameras_newest_count_whatever_the_arrival_order(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    _, site_id = await new_site(cloud, http, "Acme", "UTC")
    t0 = datetime(2026, 6, 1, 10, 5, tzinfo=UTC)
    await store_batch(
        cloud.db, batch(site_id, [count_record(1, t0, 5), count_record(3, t0 + timedelta(minutes=20), 2)])
    )
    await store_batch(cloud.db, batch(site_id, [count_record(2, t0 + timedelta(minutes=10), 7)]))  # late

    (now,) = await rows_of(cloud, OCCUPANCY, site_id)
    (hour,) = await rows_of(cloud, HOURLY, site_id, metric="occupancy.person", scope="zone")

    assert (now.count, now.as_of) == (2, t0 + timedelta(minutes=20))
    assert (hour.n, hour.peak, hour.low, hour.total_milli) == (3, 7, 2, 14_000)


def telemetry_record(seq: int, at: datetime, values: dict[str, float]) -> SyncRecord:
    return SyncRecord(seq=seq, kind="telemetry", occurred_at=at, payload={"device_id": "probe", "values": values})


async def test_hostile_readings_are_not_counted_and_sums_saturate(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    """A reading no sensor gives, or sums past 64 bits, never fail the batch (and the records behind it)."""
    _, site_id = await new_site(cloud, http, "Acme", "UTC")
    t0 = datetime(2026, 6, 1, 10, 5, tzinfo=UTC)
    values = {"temp": 21.5, "huge": 1e300, "deep": -5e20, "edge": 1e9}
    ack = await store_batch(cloud.db, batch(site_id, [telemetry_record(1, t0, values)]))
    assert ack.stored == 1
    daily = {r.metric: r for r in await rows_of(cloud, DAILY, site_id, scope="device")}
    assert {m for m in daily if m.startswith("sensor.")} == {"sensor.temp", "sensor.edge"}
    assert daily["sensor.edge"].total_milli == 10**12

    async with cloud.db.begin() as session:  # as if a site had summed near the 64-bit limit already
        for table in (HOURLY, DAILY):
            await session.execute(
                update(table)
                .where(table.c.site_id == site_id, table.c.metric == "sensor.edge")
                .values(total_milli=2**63 - 10)
            )
    later = [telemetry_record(2, t0 + timedelta(minutes=1), {"edge": 1e9}), count_record(3, t0, 4)]
    ack = await store_batch(cloud.db, batch(site_id, later))
    assert ack.stored == 2  # the batch, and the record behind the saturated one, are stored
    for table in (HOURLY, DAILY):
        (row,) = await rows_of(cloud, table, site_id, metric="sensor.edge")
        assert (row.n, row.total_milli) == (2, 2**63 - 1)
    assert await rows_of(cloud, HOURLY, site_id, metric="occupancy.person")


async def test_watermark_follows_the_reported_backlog_and_never_goes_back(
    cloud: RunningCloud, http: httpx.AsyncClient
) -> None:
    _, site_id = await new_site(cloud, http, "Acme", "UTC")
    t0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    catching_up = SyncStatus(backlog=500, oldest_pending_at=t0)
    records = [count_record(1, t0, 1)]
    await store_batch(cloud.db, batch(site_id, records, catching_up, sent_at=datetime.now(UTC) - timedelta(seconds=30)))
    (mark,) = await rows_of(cloud, WATERMARK, site_id)
    assert mark.complete_up_to == t0

    sent = datetime.now(UTC)
    await store_batch(
        cloud.db, batch(site_id, [count_record(2, t0, 1)], SyncStatus(backlog=1, oldest_pending_at=t0), sent)
    )
    stale = SyncStatus(backlog=900, oldest_pending_at=t0 - timedelta(days=1))
    await store_batch(cloud.db, batch(site_id, [], stale, sent_at=sent - timedelta(seconds=10)))

    (mark,) = await rows_of(cloud, WATERMARK, site_id)
    assert mark.complete_up_to == sent


@pytest.mark.timeout(120)
async def test_rebuild_command_recomputes_from_records_sent_over_http(
    cloud: RunningCloud, http: httpx.AsyncClient, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    made = await make_tenant(cloud, "Acme")
    site: EnrollResponse = await enroll(http, made.code)
    records = list(stream(9, datetime.now(UTC) - timedelta(hours=3), timedelta(minutes=1), 150))
    response = await send_batch(http, site, batch(site.site_id, records))
    assert response.status_code == 200, response.text
    before = await snapshot(cloud, made.tenant_id)
    async with cloud.db.begin() as session:  # lose the derived rows: the rebuild must bring them back
        for table in DERIVED_TABLES:
            await session.execute(table.delete().where(table.c.tenant_id == made.tenant_id))
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "{tmp_path / "cli"}"\ndatabase_url = "{db_url}"\n', encoding="utf-8")

    status = await asyncio.to_thread(
        main, ["analytics", "rebuild", "--config", str(config), "--tenant-id", made.tenant_id]
    )

    assert status == 0
    assert await snapshot(cloud, made.tenant_id) == before
    assert sum(len(before[t.name]) for t in FACT_TABLES.values()) > 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "tenants": 1,
        "sites": 1,
        "records": len(records),
    }
