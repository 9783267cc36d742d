"""Cloud ingest with analytics on, on PostgreSQL: events per worker CPU-second, beside a plain COPY.

Signed gzip batches of 500 mixed records (access decisions, detections and tracks, alarms, device status,
telemetry) from 100 simulated sites are posted over HTTP to one `outpost-cloud serve` worker process, then to
two; the worker's and PostgreSQL's CPU seconds are counted separately from /proc (rates per CPU-second are the
stable figure on a shared machine). Baseline, same run: `COPY` of the same rows into a bare table. Then 100
sites x 90 days of hourly rollups are loaded in bulk and the portal's analytics queries are timed through the
HTTP API: site x zone x hour over 90 days, the tenant overview, access stats. `rollup_lag_s`: from posting a
batch to its rollups being readable (they are written in the ingest transaction).

Last stdout line: one JSON object with `events_per_worker_cpu_s`, `events_per_s_per_worker`,
`events_per_s_2_workers`, `copy_per_s`, `analytics_p95_ms`, `rollup_lag_s` and details.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench._cloudproc import PG_ADMIN_DSN, CloudProcess, cloud_process, fresh_database
from bench._common import emit, percentile, progress
from bench._site_records import CAMERAS, DOORS, SiteRecords
from cloud.admin import bootstrap_tenant
from cloud.db.engine import create_engine, session_factory
from cloud.db.models import Site
from sync.codec import encode_batch
from sync.signing import SITE_HEADER, sign
from sync.wire import SYNC_PATH, SyncBatch, new_nonce

SITES = 100
BATCH = 500
PASSWORD = "bench-password-0123"
TIMEZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
CONCURRENCY = 4  # batches in flight per worker


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


async def pg_backends(dsn: str, database: str) -> list[int]:
    """The PostgreSQL backend pids serving `database`."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


class PgCpu:
    """CPU seconds of the backends of one database between `start` and `stop` (backends seen at either end)."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.before: dict[int, float] = {}

    async def start(self) -> None:
        self.before = {pid: proc_cpu_s(pid) for pid in await pg_backends(self.dsn, self.database)}

    async def stop(self) -> float:
        pids = set(self.before) | set(await pg_backends(self.dsn, self.database))
        return sum(max(0.0, proc_cpu_s(pid) - self.before.get(pid, 0.0)) for pid in pids)


async def make_sites(url: str) -> tuple[str, list[tuple[str, str]]]:
    """One tenant with an admin and `SITES` sites (mixed time zones); return (tenant_id, [(site_id, secret)])."""
    engine = create_engine(url)
    try:
        db = session_factory(engine)
        tenant = await bootstrap_tenant(db, "Bench", "admin@bench.example", PASSWORD)
        sites = [(f"site{i:03d}", os.urandom(32).hex()) for i in range(SITES)]
        async with db.begin() as session:
            session.add_all(
                Site(
                    id=sid, tenant_id=tenant.tenant_id, name=f"Depot {i:03d}", secret=secret, timezone=TIMEZONES[i % 4]
                )
                for i, (sid, secret) in enumerate(sites)
            )
        return tenant.tenant_id, sites
    finally:
        await engine.dispose()


class BatchMaker:
    """Per-site record streams; `bodies(n)` encodes n batches round-robin over the sites (ahead of timing)."""

    def __init__(self, sites: list[tuple[str, str]]) -> None:
        self.sites = sites
        self.streams = [SiteRecords(i) for i in range(len(sites))]
        self.next_seq = [1] * len(sites)
        self.start = datetime.now(UTC) - timedelta(hours=6)
        self.rows: list[tuple[Any, ...]] = []

    def bodies(self, count: int) -> list[tuple[str, str, bytes]]:
        out = []
        for n in range(count):
            i = n % len(self.sites)
            site_id, secret = self.sites[i]
            first = self.next_seq[i]
            records = [
                self.streams[i].record(seq, self.start + timedelta(seconds=seq * 0.5))
                for seq in range(first, first + BATCH)
            ]
            self.next_seq[i] = first + BATCH
            batch = SyncBatch(site_id=site_id, sent_at=datetime.now(UTC), nonce=new_nonce(), records=records)
            out.append((site_id, secret, encode_batch(batch)))
            self.rows += [(site_id, r.seq, r.kind, r.occurred_at, json.dumps(r.payload)) for r in records]
        return out


async def post_all(urls: Sequence[str], bodies: list[tuple[str, str, bytes]]) -> list[float]:
    """POST every body, `CONCURRENCY` in flight per worker, spread over the workers; return each latency (s)."""
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            site_id, secret, body = queue.get_nowait()
            headers = sign(secret, body) | {
                SITE_HEADER: site_id,
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            }
            t0 = time.perf_counter()
            response = await client.post(SYNC_PATH, content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"batch refused: {response.status_code} {response.text[:300]}")

    clients = [httpx.AsyncClient(base_url=url, timeout=120) for url in urls]
    try:
        async with asyncio.TaskGroup() as group:
            for client in clients:
                for _ in range(CONCURRENCY):
                    group.create_task(sender(client))
    finally:
        for client in clients:
            await client.aclose()
    return latencies


async def ingest_phase(
    workers: list[CloudProcess], bodies: list[tuple[str, str, bytes]], database: str
) -> dict[str, float]:
    """Post the bodies to the workers; wall time, worker and PostgreSQL CPU seconds."""
    pg = PgCpu(PG_ADMIN_DSN, database)
    await pg.start()
    before = [proc_cpu_s(w.proc.pid) for w in workers if w.proc is not None]
    t0 = time.perf_counter()
    latencies = await post_all([w.base for w in workers], bodies)
    wall = time.perf_counter() - t0
    worker_cpu = sum(proc_cpu_s(w.proc.pid) for w in workers if w.proc is not None) - sum(before)
    pg_cpu = await pg.stop()
    events = len(bodies) * BATCH
    return {
        "events": events,
        "wall_s": round(wall, 3),
        "worker_cpu_s": round(worker_cpu, 3),
        "pg_cpu_s": round(pg_cpu, 3),
        "events_per_s": round(events / wall),
        "events_per_worker_cpu_s": round(events / worker_cpu) if worker_cpu else 0,
        "events_per_pg_cpu_s": round(events / pg_cpu) if pg_cpu else 0,
        "batch_p95_ms": round(percentile(latencies, 95) * 1000, 1),
    }


async def copy_baseline(database: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY the same rows into a bare table (no index, no constraint); rows per second."""
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE bench_copy (site_id text, seq bigint, kind text, occurred_at timestamptz, payload jsonb)"
        )
        t0 = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=rows)
        return len(rows) / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def rollup_lag(worker: CloudProcess, maker: BatchMaker, database: str) -> float:
    """Post single batches and read their rollups back directly; the worst time from POST to readable (s)."""
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn)
    worst = 0.0
    try:
        for body in maker.bodies(3):
            site_id = body[0]
            query = "SELECT coalesce(sum(n), 0) FROM rollup_daily WHERE site_id = $1 AND metric = 'records'"
            before = await conn.fetchval(query, site_id)
            t0 = time.perf_counter()
            await post_all([worker.base], [body])
            for _ in range(1200):  # polling the database for the rollup, up to a minute (bench, not a test)
                if await conn.fetchval(query, site_id) >= before + BATCH:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"rollups of site {site_id} not readable a minute after the batch")
            worst = max(worst, time.perf_counter() - t0)
    finally:
        await conn.close()
    return worst


async def load_history(database: str, tenant_id: str, sites: list[tuple[str, str]], days: int) -> int:
    """Bulk-load `days` of hourly and daily rollups for every site (zones, doors); return hourly rows."""
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn)
    rng = random.Random(7)
    # Whole UTC days ending before yesterday: the timed ingest's rows fall on the sites' local today (or yesterday
    # west of UTC), so the history never shares a daily bucket with them, whatever the hour of the run.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = end - timedelta(days=days)
    zone_metrics = ("occupancy.person", "crossings.in", "crossings.out")
    door_metrics = ("access.granted", "access.denied")
    scopes = [("zone", zone, m) for _, zone in CAMERAS for m in zone_metrics] + [
        ("door", door, m) for door in DOORS for m in door_metrics
    ]
    try:
        hourly = 0
        for site_id, _ in sites:
            rows = []
            daily: dict[tuple[str, str, str, date], list[Any]] = {}
            at = start
            while at < end:
                for scope, scope_id, metric in scopes:
                    n = rng.randrange(1, 30)
                    peak = float(rng.randrange(0, 12)) if metric.startswith("occupancy") else None
                    rows.append((tenant_id, site_id, scope, metric, at, scope_id, n, 0, peak, peak))
                    agg = daily.setdefault((scope, scope_id, metric, at.date()), [0, None])
                    agg[0] += n
                    agg[1] = peak if agg[1] is None or (peak is not None and peak > agg[1]) else agg[1]
                at += timedelta(hours=1)
            columns = [
                "tenant_id",
                "site_id",
                "scope",
                "metric",
                "bucket",
                "scope_id",
                "n",
                "total_milli",
                "peak",
                "low",
            ]
            await conn.copy_records_to_table("rollup_hourly", records=rows, columns=columns)
            day_rows = [
                (tenant_id, site_id, scope, metric, day, scope_id, n, 0, peak, peak)
                for (scope, scope_id, metric, day), (n, peak) in daily.items()
            ]
            await conn.copy_records_to_table(
                "rollup_daily", records=day_rows, columns=[c if c != "bucket" else "day" for c in columns]
            )
            hourly += len(rows)
        await conn.execute("ANALYZE rollup_hourly; ANALYZE rollup_daily")
    finally:
        await conn.close()
    return hourly


async def time_queries(worker: CloudProcess, site_id: str, days: int, rounds: int) -> dict[str, float]:
    """Time the portal's analytics reads through the API; p95 per query and overall (ms)."""
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=days - 1)).isoformat()
    queries = {
        "site_zone_hour_90d": (
            "/api/v1/analytics/traffic/columns",
            {"site": site_id, "granularity": "hour", "from": since},
        ),
        "tenant_overview": ("/api/v1/analytics/overview", {"sort": "open_alarms", "order": "desc"}),
        "access_stats_90d": ("/api/v1/analytics/access", {"from": since}),
    }
    times: dict[str, list[float]] = {name: [] for name in queries}
    async with httpx.AsyncClient(base_url=worker.base, timeout=60) as client:
        login = await client.post("/api/v1/login", json={"email": "admin@bench.example", "password": PASSWORD})
        login.raise_for_status()
        for _ in range(rounds):
            for name, (path, params) in queries.items():
                t0 = time.perf_counter()
                response = await client.get(path, params=params)
                times[name].append(time.perf_counter() - t0)
                response.raise_for_status()
        hourly = {"site": site_id, "granularity": "hour", "from": since}
        t0 = time.perf_counter()
        as_points = await client.get("/api/v1/analytics/traffic", params=hourly)
        points_ms = (time.perf_counter() - t0) * 1000
        points = len(as_points.json()["points"])
    everything = list(itertools.chain.from_iterable(times.values()))
    out = {f"{name}_p95_ms": round(percentile(t, 95) * 1000, 1) for name, t in times.items()}
    out["analytics_p95_ms"] = round(percentile(everything, 95) * 1000, 1)
    out["site_zone_hour_points"] = points
    out["site_zone_hour_90d_as_points_ms"] = round(points_ms, 1)  # the same data, one object per bucket
    return out


async def run(batches: int, history_days: int, history_sites: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="outpost-cloud-ingest-") as tmp:
        workdir = Path(tmp)
        async with fresh_database("postgresql", workdir) as url:
            database = url.rsplit("/", 1)[1]
            tenant_id, sites = await make_sites(url)
            maker = BatchMaker(sites)
            progress(f"encoding {batches} batches of {BATCH} for one worker")
            one_bodies = maker.bodies(batches)
            async with cloud_process(url, workdir / "w1") as w1:
                progress("one worker: warm-up")
                await post_all([w1.base], maker.bodies(4))
                progress("one worker: timed")
                one = await ingest_phase([w1], one_bodies, database)
                progress(f"one worker: {one}")
                lag = await rollup_lag(w1, maker, database)
                progress(f"encoding {batches} batches for two workers")
                two_bodies = maker.bodies(batches)
                async with cloud_process(url, workdir / "w2") as w2:
                    await post_all([w2.base], maker.bodies(2))
                    progress("two workers: timed")
                    two = await ingest_phase([w1, w2], two_bodies, database)
                    progress(f"two workers: {two}")
                progress(f"COPY baseline of {len(maker.rows)} rows")
                copy_rate = await copy_baseline(database, maker.rows)
                progress(f"loading {history_days} days of rollups for {history_sites} sites")
                loaded = await load_history(database, tenant_id, sites[:history_sites], history_days)
                progress(f"{loaded} hourly rollup rows loaded; timing queries")
                analytics = await time_queries(w1, sites[0][0], history_days, rounds)
    return {
        "events_per_worker_cpu_s": one["events_per_worker_cpu_s"],
        "events_per_s_per_worker": one["events_per_s"],
        "events_per_s_2_workers": two["events_per_s"],
        "copy_per_s": round(copy_rate),
        "analytics_p95_ms": analytics["analytics_p95_ms"],
        "rollup_lag_s": round(lag, 3),
        "ingest_vs_copy": round(one["events_per_s"] / copy_rate, 3),
        "one_worker": one,
        "two_workers": two,
        "analytics": analytics,
        "history": {"sites": history_sites, "days": history_days, "hourly_rows": loaded},
        "batch_size": BATCH,
        "sites": SITES,
        "targets": {"events_per_worker_cpu_s": 20000, "analytics_p95_ms": 200, "rollup_lag_s": 60},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="40 batches per phase, 20 sites of history (< 2 min)")
    size.add_argument("--smoke", action="store_true", help="tiny, correctness only")
    args = parser.parse_args()
    if args.smoke:
        batches, days, history_sites, rounds = 4, 3, 2, 2
    elif args.quick:
        batches, days, history_sites, rounds = 40, 90, 20, 10
    else:
        batches, days, history_sites, rounds = 200, 90, SITES, 30
    emit(asyncio.run(run(batches, days, history_sites, rounds)))


if __name__ == "__main__":
    main()
