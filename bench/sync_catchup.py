"""Catch-up of a site that was offline for a day: its outbox delivered end to end into the cloud.

    python -m bench.sync_catchup            # 1,000,000 events, SQLite then PostgreSQL
    python -m bench.sync_catchup --quick    # 100,000 events (under 2 minutes)
    python -m bench.sync_catchup --smoke    # 2,000 events (the test suite: correctness only)

The edge's outbox is filled with the rows the journal writes (`edge.storage.journal.Journal`: events + outbox).
End to end: the real sync agent (`sync.agent.SyncAgent`, the edge's default batch size) reads the outbox,
signs and posts gzip batches to a real `outpost-cloud serve` child process, which verifies, decodes and stores
them; the edge marks them acknowledged. Baseline, in the same run and the same cloud database: a plain bulk
insert (SQLAlchemy executemany, 5,000 rows a transaction) of the same rows into the same `records` table, for
another site, timing only the inserts. Run first, so the end-to-end leg meets the larger table.

Prints one JSON line per backend (`backend`, `events`, `events_per_s`, `bulk_insert_per_s`, ...), PostgreSQL
last. Target: `events_per_s` >= 50% of `bulk_insert_per_s` on both.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bench._cloudproc import cloud_process, enroll, fresh_database, issue_codes
from bench._common import emit, machine, progress
from cloud.db.engine import create_engine
from cloud.db.models import Site
from cloud.ingest import RECORDS
from edge.config.cloud import CloudConfig as EdgeCloudConfig
from edge.storage.database import Database
from edge.storage.journal import Outbox
from edge.storage.schema import events as events_table
from observability.heap import freeze_startup_heap
from sync.agent import SyncAgent

BULK_CHUNK = 5000
TARGET_RATIO = 0.5


async def fill_outbox(path: Path, events: int) -> None:
    """A day of events at one site (badge reads and their audit records), as the journal writes them.

    The same rows as `Journal.record` (an events row, and an outbox row whose payload carries `journal_id`,
    `source` and `summary`), encoded by the same column types, but written 10,000 to a transaction: the bench
    measures the catch-up, not the filling.
    """
    db = Database(path)
    await db.migrate()
    await db.close()
    dialect = sqlite_dialect.dialect()
    encode_time = events_table.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    encode_json = events_table.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
    assert encode_time is not None and encode_json is not None
    start = datetime.now(UTC) - timedelta(days=1)
    step = timedelta(days=1) / max(events, 1)
    chunk = 10_000
    with sqlite3.connect(path) as conn:
        first_id = (conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]) + 1
        for base in range(0, events, chunk):
            event_rows, outbox_rows_ = [], []
            for i in range(base, min(events, base + chunk)):
                kind = "event" if i % 2 else "audit"
                payload = {
                    "event_id": f"evt-{i:09d}",
                    "door": f"door-{i % 12}",
                    "badge": f"{(i * 7919) % 1_000_000:06d}",
                    "decision": "granted" if i % 17 else "denied",
                    "reason": "ok" if i % 17 else "outside_schedule",
                }
                when = encode_time(start + step * i)
                event_rows.append((kind, when, "reader", "badge read", encode_json(payload)))
                body = {"journal_id": first_id + i, "source": "reader", "summary": "badge read", **payload}
                outbox_rows_.append((kind, when, encode_json(body)))
            conn.executemany(
                "INSERT INTO events (kind, occurred_at, source, summary, payload) VALUES (?, ?, ?, ?, ?)", event_rows
            )
            conn.executemany("INSERT INTO outbox (kind, occurred_at, payload, acked) VALUES (?, ?, ?, 0)", outbox_rows_)
            conn.commit()
            if base and base % 200_000 == 0:
                progress(f"outbox: {base} events")


def reset_outbox(path: Path) -> None:
    """Mark every outbox record waiting again (the next backend catches up the same day)."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE outbox SET acked = 0")


def outbox_rows(path: Path, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT seq, kind, occurred_at, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()


async def bulk_insert(database_url: str, edge_db: Path, site_id: str) -> tuple[int, float]:
    """Insert the outbox's rows into `records` as a plain executemany; return (rows, seconds inserting)."""
    import json

    engine = create_engine(database_url)
    total, spent, last = 0, 0.0, 0
    now = datetime.now(UTC)
    try:
        async with engine.connect() as conn:
            tenant_id = (await conn.execute(select(Site.tenant_id).where(Site.id == site_id))).scalar_one()
        while rows := outbox_rows(edge_db, last, BULK_CHUNK):
            values = [
                {
                    "tenant_id": tenant_id,
                    "site_id": site_id,
                    "seq": seq,
                    "kind": kind,
                    "occurred_at": datetime.fromisoformat(occurred).replace(tzinfo=UTC),
                    "payload": json.loads(payload),
                    "received_at": now,
                }
                for seq, kind, occurred, payload in rows
            ]
            last = rows[-1][0]
            t0 = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(insert(RECORDS), values)
            spent += time.perf_counter() - t0
            total += len(values)
    finally:
        await engine.dispose()
    return total, spent


async def stored(database_url: str, site_id: str) -> tuple[int, int]:
    """(count, distinct seqs) of a site's records in the cloud."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(func.count(), func.count(func.distinct(RECORDS.c.seq))).where(RECORDS.c.site_id == site_id)
            count, distinct = (await conn.execute(query)).one()
    finally:
        await engine.dispose()
    return int(count), int(distinct)


async def run_backend(
    backend: str, events: int, edge_db: Path, workdir: Path, batch_size: int | None = None
) -> dict[str, Any]:
    """Bulk insert, then the end-to-end catch-up, on one cloud backend."""
    async with fresh_database(backend, workdir) as url:
        codes = await issue_codes(url, 2)
        async with cloud_process(url, workdir / f"cloud-{backend}") as cloud:
            site = await enroll(cloud.base, codes[0], "edge")
            bulk_site = await enroll(cloud.base, codes[1], "bulk")
            progress(f"{backend}: bulk insert of {events} rows")
            bulk_rows, bulk_s = await bulk_insert(url, edge_db, bulk_site.site_id)
            assert bulk_rows == events, (bulk_rows, events)
            reset_outbox(edge_db)
            db = Database(edge_db)
            agent = SyncAgent(
                Outbox(db),
                cloud_url=cloud.base,
                site_id=site.site_id,
                secret=site.secret,
                batch_size=batch_size or EdgeCloudConfig().batch_size,
                # The edge's defaults (batches grow while full); a fixed --batch-size keeps every batch that size.
                catch_up_batch_size=batch_size or EdgeCloudConfig().catch_up_batch_size,
                timeout_s=60,
            )
            progress(f"{backend}: end-to-end catch-up of {events} events")
            freeze_startup_heap()  # this process stands for the edge's, which does so after start (edge.app)
            t0 = time.perf_counter()
            try:
                delivered = await agent.flush()
            finally:
                e2e_s = time.perf_counter() - t0
                await agent.stop(flush_timeout_s=1)
                await db.close()
        count, distinct = await stored(url, site.site_id)
    if not delivered == count == distinct == events:
        raise RuntimeError(f"{backend}: delivered {delivered}, stored {count} ({distinct} distinct) of {events}")
    events_per_s = events / e2e_s
    bulk_per_s = bulk_rows / bulk_s
    result = {
        "backend": backend,
        "events": events,
        "events_per_s": round(events_per_s),
        "bulk_insert_per_s": round(bulk_per_s),
        "ratio": round(events_per_s / bulk_per_s, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": events_per_s >= TARGET_RATIO * bulk_per_s,
        "e2e_s": round(e2e_s, 2),
        "bulk_insert_s": round(bulk_s, 2),
        "batch_size": batch_size or EdgeCloudConfig().batch_size,
        "catch_up_batch_size": batch_size or EdgeCloudConfig().catch_up_batch_size,
        "batches": agent.batches_sent,
        "machine": machine(),
    }
    progress(f"{backend}: {result['events_per_s']}/s end to end, {result['bulk_insert_per_s']}/s bulk insert")
    return result


async def main_async(events: int, backends: list[str], batch_size: int | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="outpost-catchup-") as tmp:
        workdir = Path(tmp)
        edge_db = workdir / "edge.db"
        progress(f"filling the edge outbox with {events} events")
        t0 = time.perf_counter()
        await fill_outbox(edge_db, events)
        progress(f"outbox filled in {time.perf_counter() - t0:.1f} s")
        for backend in backends:
            emit(await run_backend(backend, events, edge_db, workdir, batch_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="100,000 events")
    size.add_argument("--smoke", action="store_true", help="2,000 events (correctness only)")
    size.add_argument("--events", type=int, help="number of events (default 1,000,000)")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql"], action="append", help="only this backend (repeatable)"
    )
    parser.add_argument(
        "--batch-size", type=int, choices=range(1, 5001), metavar="1..5000", help="records per batch (edge default)"
    )
    args = parser.parse_args()
    events = args.events or (2_000 if args.smoke else 100_000 if args.quick else 1_000_000)
    if events < 1:
        parser.error("--events must be at least 1")
    backends = [b for b in ("sqlite", "postgresql") if args.backend is None or b in args.backend]
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(events, backends, args.batch_size))


if __name__ == "__main__":
    main()
