"""Metering through the real ingest path: daily usage rows idempotent on (site, day), inventory, snapshots."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import httpx
from cloud_helpers import send_batch
from sqlalchemy import select

from cloud.app import RunningCloud
from cloud.billing.models import UsageBatch, UsageDay
from cloud.db.models import utcnow
from sync.media import MEDIA_PATH, chunk_signing_bytes, media_id_for
from sync.signing import SITE_HEADER, sign
from sync.wire import EnrollResponse, SyncBatch, SyncRecord, new_nonce

DAY1 = datetime(2027, 3, 1, 10, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def batch(site_id: str, records: list[tuple[int, str, datetime, dict[str, object]]]) -> SyncBatch:
    """A batch of (seq, kind, occurred_at, payload) records."""
    return SyncBatch(
        site_id=site_id,
        sent_at=datetime.now(UTC),
        nonce=new_nonce(),
        records=[SyncRecord(seq=s, kind=k, occurred_at=t, payload=p) for s, k, t, p in records],  # type: ignore[arg-type]
    )


async def usage(cloud: RunningCloud, site_id: str) -> dict[date, tuple[int, int, int, int, int]]:
    async with cloud.db() as session:
        rows = await session.scalars(select(UsageDay).where(UsageDay.site_id == site_id).order_by(UsageDay.day))
        return {r.day: (r.events, r.cameras, r.doors, r.devices, r.snapshot_bytes) for r in rows}


async def test_usage_rows_count_each_record_once_by_day_and_keep_the_days_largest_inventory(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    inv = {"cameras": 3, "doors": 2, "devices": 7, "journal_id": 1, "source": "site", "summary": "x"}
    first = batch(
        site.site_id,
        [
            (1, "inventory", DAY1, inv),
            (2, "event", DAY1, {"door": "front"}),
            (3, "audit", DAY1, {"door": "front"}),
            (4, "event", DAY2, {"door": "front"}),
            (5, "thinning", DAY2, {"n": 1}),
        ],
    )
    assert (await send_batch(http, site, first)).status_code == 200
    # The same records again (a retry after a lost ack, with a new nonce): nothing changes.
    again = first.model_copy(update={"nonce": new_nonce()})
    assert (await send_batch(http, site, again)).json()["duplicates"] == 5
    # A later batch: more events on day 1, a smaller inventory report that day (the day keeps 3 cameras).
    later = batch(
        site.site_id,
        [
            (6, "event", DAY1, {"door": "back"}),
            (7, "inventory", DAY1, {"cameras": 1, "doors": 4, "devices": 7}),
        ],
    )
    assert (await send_batch(http, site, later)).status_code == 200
    assert await usage(cloud, site.site_id) == {
        DAY1.date(): (3, 3, 4, 7, 0),
        DAY2.date(): (1, 0, 0, 0, 0),
    }
    async with cloud.db() as session:
        batches = list(await session.scalars(select(UsageBatch).order_by(UsageBatch.id)))
    assert [(b.day, b.first_seq, b.last_seq, b.events, b.batch_nonce) for b in batches] == [
        (DAY1.date(), 2, 3, 2, first.nonce),
        (DAY2.date(), 4, 4, 1, first.nonce),
        (DAY1.date(), 6, 6, 1, later.nonce),
    ]


async def test_a_bad_inventory_record_is_refused_by_seq_and_nothing_is_metered(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    bad = batch(site.site_id, [(1, "event", DAY1, {}), (2, "inventory", DAY1, {"cameras": -1})])
    response = await send_batch(http, site, bad)
    assert response.status_code == 422
    assert [r["seq"] for r in response.json()["rejected"]] == [2]
    assert await usage(cloud, site.site_id) == {}


async def test_a_completed_snapshot_upload_adds_its_bytes_once(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    data = os.urandom(5000)
    query = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "kind": "snapshot"}
    media_id = media_id_for("snapshot", "cam1/a.jpg")
    for _ in range(2):  # the second upload finds the file complete
        target = f"{MEDIA_PATH}/{media_id}?{urlencode({'offset': 0, **query, 'content_type': 'image/jpeg'})}"
        headers = {SITE_HEADER: site.site_id, **sign(site.secret, chunk_signing_bytes("PUT", target, data))}
        assert (await http.put(target, content=data, headers=headers)).status_code == 200
    assert await usage(cloud, site.site_id) == {utcnow().date(): (0, 0, 0, 0, 5000)}
