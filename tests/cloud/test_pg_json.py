"""On PostgreSQL the analytics rows are written as one JSON parameter per table (`cloud.analytics.pg_json`); they
must store exactly what SQLAlchemy's executemany of the same upsert stores: every derived table, read back, for
records with odd text, times in other offsets, large and tiny numbers, nulls, and a reserved-word column (`by`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from bench._site_records import stream
from cloud.analytics import facts
from cloud.analytics.buckets import buckets_for
from cloud.analytics.derive import derive
from cloud.analytics.facts import DERIVED_TABLES, Statements, apply
from cloud.app import RunningCloud
from cloud.db.models import Site
from sync.wire import EnrollResponse

START = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
ODD = 'Zoë 李 "quoted" \\ back\tslash'


def odd_records() -> list[dict[str, Any]]:
    """Records whose payloads push the value encodings (the seeded stream covers every kind)."""
    plus_five = timezone(timedelta(hours=5, minutes=30))
    records = [
        {"seq": r.seq, "kind": r.kind, "occurred_at": r.occurred_at, "payload": r.payload}
        for r in stream(7, START, timedelta(seconds=13), 400)
    ]
    extra = [
        ("event", {"type": "alarm", "alarm": ODD, "state": "raised", "door_id": ODD, "alarm_id": 2**63 - 1}),
        ("event", {"type": "alarm", "alarm": ODD, "state": "acknowledged", "door_id": ODD, "alarm_id": 2**63 - 1}),
        ("audit", {"type": "access_decision", "door_id": ODD, "credential": ODD, "granted": False, "reason": ODD}),
        ("telemetry", {"device_id": ODD, "values": {"tiny": 1e-7, "huge": 2.0**40, "none": None, "neg": -0.5}}),
        ("device_status", {"device_id": ODD, "kind": None, "online": True, "firmware": None}),
        ("detection", {"kind": "count", "camera_id": ODD, "zone": None, "category": "person", "count": 0}),
    ]
    for n, (kind, payload) in enumerate(extra, start=1000):
        payload = payload | ({"by": ODD} if payload.get("state") == "acknowledged" else {})
        when = (START + timedelta(minutes=n)).astimezone(plus_five)
        records.append({"seq": n, "kind": kind, "occurred_at": when, "payload": payload})
    return records


async def written(cloud: RunningCloud, site_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Apply the odd records' analytics, read every derived table back, roll back."""
    async with cloud.db() as session:
        tenant_id = await session.scalar(select(Site.tenant_id).where(Site.id == site_id))
        assert tenant_id is not None
        derived = derive(tenant_id, site_id, buckets_for("America/New_York"), odd_records())
        await apply(session, "postgresql", derived)
        out = {}
        for table in DERIVED_TABLES:
            rows = (await session.execute(select(table).where(table.c.site_id == site_id))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        await session.rollback()
    return out


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the JSON path is PostgreSQL's
async def test_json_rows_store_what_an_executemany_stores(
    cloud: RunningCloud, site: EnrollResponse, monkeypatch: pytest.MonkeyPatch
) -> None:
    executemany = Statements("postgresql")
    executemany.postgres = False  # the reference: SQLAlchemy's executemany of the same statements
    with monkeypatch.context() as patch:
        patch.setitem(facts._STATEMENTS, "postgresql", executemany)
        reference = await written(cloud, site.site_id)
    assert all(reference[table.name] for table in DERIVED_TABLES)  # every table gets rows
    assert await written(cloud, site.site_id) == reference
