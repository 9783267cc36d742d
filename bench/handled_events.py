"""Edge start-up cost of remembering the device events already handled (edge.storage.device_events).

    python -m bench.handled_events [--rows N] [--smoke]

A journal of N records (default 1,000,000) in the real edge database (all migrations): 40 % badge decisions from
20 readers and 20 % door contact changes from 10 contacts (each with its device's `event_id`), 40 % telemetry from
50 sensors (no event id), inserted in bulk with the payloads the edge writes. Measured: the start-up read of the
last 256 ids per device through the partial index of migration 16 (wall and CPU seconds, median of `REPEATS`),
the same-run baseline of the same queries with that index dropped (each then scans the journal; one run), and what
migration 16 costs once, building the index over the existing journal.
Last line: JSON with `load_s`, `load_cpu_s`, `baseline_load_s`, `migration_s`, `devices`, `ids`, `rows`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import emit, machine, progress
from edge.devices.router import REMEMBERED_EVENTS
from edge.storage.database import Database
from edge.storage.device_events import recent_device_event_ids

REPEATS = 5
_INDEX = (
    "CREATE INDEX ix_events_device_event ON events (source, id) WHERE json_extract(payload, '$.event_id') IS NOT NULL"
)


def _rows(count: int) -> Iterator[tuple[str, str, str, str, str]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        at = (start + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f")
        kind = n % 5
        if kind < 2:
            reader = f"reader-{n // 5 % 20:02d}"
            payload: dict[str, Any] = {
                "type": "access_decision",
                "door_id": f"door-{n // 5 % 20:02d}",
                "reader_id": reader,
                "direction": "in",
                "credential": f"{n % 2000:07d}",
                "person_id": n % 2000,
                "granted": True,
                "reason": "granted",
                "event_id": uuid.uuid4().hex,
            }
            yield "audit", at, reader, f"GRANTED person at door-{n // 5 % 20:02d}", json.dumps(payload)
        elif kind == 2:
            door = f"door-{n // 5 % 10:02d}"
            contact = f"contact-{n // 5 % 10:02d}"
            payload = {"type": "door_contact", "device_id": contact, "door_id": door, "open": n % 2 == 0}
            payload["event_id"] = uuid.uuid4().hex
            yield "event", at, contact, f"{door} opened", json.dumps(payload)
        else:
            sensor = f"sensor-{n % 50:02d}"
            yield "telemetry", at, sensor, "t=21.5", json.dumps({"device_id": sensor, "values": {"t": 21.5}})


def _fill(path: Path, count: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        conn.executemany(
            "INSERT INTO events (kind, occurred_at, source, summary, payload) VALUES (?, ?, ?, ?, ?)", _rows(count)
        )


async def _load(db: Database, repeats: int) -> tuple[float, float, dict[str, list[str]]]:
    times: list[tuple[float, float]] = []
    recent: dict[str, list[str]] = {}
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        recent = await recent_device_event_ids(db, REMEMBERED_EVENTS)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times), recent


def _sql(path: Path, statement: str) -> float:
    with sqlite3.connect(path) as conn:
        began = time.perf_counter()
        conn.execute(statement)
        return time.perf_counter() - began


async def run(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edge.db"
        db = Database(path)
        await db.migrate()
        progress(f"writing {rows:,} journal records")
        await asyncio.to_thread(_fill, path, rows)
        progress("reading the handled ids through the index")
        load_s, load_cpu_s, recent = await _load(db, REPEATS)
        await db.engine.dispose()
        _sql(path, "DROP INDEX ix_events_device_event")
        progress("baseline: the same read without the index")
        baseline_s, baseline_cpu_s, unindexed = await _load(db, 1)
        assert unindexed == recent
        await db.engine.dispose()
        progress("migration 16 over the existing journal")
        migration_s = await asyncio.to_thread(_sql, path, _INDEX)
        await db.close()
    return {
        "rows": rows,
        "devices": len(recent),
        "ids": sum(len(ids) for ids in recent.values()),
        "load_s": round(load_s, 4),
        "load_cpu_s": round(load_cpu_s, 4),
        "baseline_load_s": round(baseline_s, 3),
        "baseline_load_cpu_s": round(baseline_cpu_s, 3),
        "migration_s": round(migration_s, 2),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="10,000 records")
    args = parser.parse_args()
    emit(asyncio.run(run(10_000 if args.smoke else args.rows)))


if __name__ == "__main__":
    main()
