"""Sync ingest: signed batches are stored once, acknowledged, and anything unsigned is refused."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

import httpx
from cloud_helpers import make_batch, post_batch, send_batch, stale_timestamp
from sqlalchemy import func, select

from cloud.app import RunningCloud
from cloud.db.models import Record, Site, SiteSyncState
from sync.agent import SyncAgent
from sync.codec import encode_batch
from sync.signing import SITE_HEADER, sign
from sync.wire import SYNC_PATH, EnrollResponse, SyncAck, SyncRecord


async def stored_seqs(cloud: RunningCloud, site_id: str) -> list[int]:
    async with cloud.db() as session:
        return list(await session.scalars(select(Record.seq).where(Record.site_id == site_id).order_by(Record.seq)))


async def record_count(cloud: RunningCloud) -> int:
    async with cloud.db() as session:
        return await session.scalar(select(func.count()).select_from(Record)) or 0


async def test_signed_batch_is_stored_and_acked(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    response = await send_batch(http, site, make_batch(site.site_id, [1, 2, 3, 4, 5]))

    assert response.status_code == 200, response.text
    assert SyncAck.model_validate_json(response.content) == SyncAck(acked_seq=5, stored=5, duplicates=0)
    assert await stored_seqs(cloud, site.site_id) == [1, 2, 3, 4, 5]
    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.last_seq == 5 and row.last_sync_at is not None
    async with cloud.db() as session:
        record = await session.scalar(select(Record).where(Record.site_id == site.site_id, Record.seq == 3))
    assert record is not None
    assert record.kind == "event" and record.payload == {"n": 3, "door": "front"}
    assert record.occurred_at.tzinfo is not None


async def test_resent_records_are_acked_as_duplicates(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    at = datetime.now(UTC)
    first = await send_batch(http, site, make_batch(site.site_id, [1, 2, 3, 4, 5], at=at))
    assert first.status_code == 200

    # A retry of the same records is a new request (new nonce): idempotent, not refused.
    retry = await send_batch(http, site, make_batch(site.site_id, [1, 2, 3, 4, 5], at=at))

    assert retry.status_code == 200, retry.text
    assert SyncAck.model_validate_json(retry.content) == SyncAck(acked_seq=5, stored=0, duplicates=5)
    assert await record_count(cloud) == 5


async def test_overlapping_batch_stores_only_new_records(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    at = datetime.now(UTC)
    await send_batch(http, site, make_batch(site.site_id, [1, 2, 3, 4, 5], at=at))

    response = await send_batch(http, site, make_batch(site.site_id, [3, 4, 5, 6, 7], at=at))

    assert SyncAck.model_validate_json(response.content) == SyncAck(acked_seq=7, stored=2, duplicates=3)
    assert await stored_seqs(cloud, site.site_id) == [1, 2, 3, 4, 5, 6, 7]


async def test_older_batch_does_not_move_last_seq_back(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    await send_batch(http, site, make_batch(site.site_id, [10, 11]))
    await send_batch(http, site, make_batch(site.site_id, [4]))

    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.last_seq == 11


async def test_empty_batch_acks_zero(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    response = await send_batch(http, site, make_batch(site.site_id, []))

    assert SyncAck.model_validate_json(response.content) == SyncAck(acked_seq=0, stored=0, duplicates=0)


async def test_bad_signature_is_refused_and_nothing_stored(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, [1, 2]))

    response = await post_batch(http, site, body, secret="00" * 32)

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert await record_count(cloud) == 0


async def test_tampered_body_is_refused(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    signed = encode_batch(make_batch(site.site_id, [1]))
    forged = encode_batch(make_batch(site.site_id, [1, 2, 3]))
    headers = {**sign(site.secret, signed), SITE_HEADER: site.site_id, "Content-Encoding": "gzip"}

    response = await http.post(SYNC_PATH, content=forged, headers=headers)

    assert response.status_code == 401
    assert await record_count(cloud) == 0


async def test_stale_timestamp_is_refused(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    body = encode_batch(make_batch(site.site_id, [1]))

    response = await post_batch(http, site, body, timestamp=stale_timestamp())

    assert response.status_code == 401
    assert response.json()["error"] == "expired"
    assert "clock skew" in response.json()["detail"]
    assert await record_count(cloud) == 0


async def test_missing_signature_is_refused(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    body = encode_batch(make_batch(site.site_id, [1]))

    response = await http.post(SYNC_PATH, content=body, headers={SITE_HEADER: site.site_id})

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"


async def test_garbage_body_is_400(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    for body in (b"not gzip at all", gzip.compress(b"{not json"), gzip.compress(b'{"site_id": "x"}')):
        response = await post_batch(http, site, body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "bad_batch"
    assert await record_count(cloud) == 0


async def test_batch_for_another_site_is_400(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    body = encode_batch(make_batch("someothersite", [1]))

    response = await post_batch(http, site, body)

    assert response.status_code == 400
    assert response.json()["error"] == "site_mismatch"


async def test_unknown_site_is_401(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    body = encode_batch(make_batch("nosuchsite", [1]))

    response = await post_batch(http, site, body, site_header="nosuchsite")

    assert response.status_code == 401
    assert response.json()["error"] == "unknown_site"
    assert await record_count(cloud) == 0


async def test_oversized_body_is_413_json(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    body = b"\x1f\x8b" + b"\0" * (9 * 1024 * 1024)

    response = await post_batch(http, site, body)

    assert response.status_code == 413
    assert response.json()["error"] == "request_entity_too_large"


class ListOutbox:
    """An in-memory outbox for driving the real edge sync agent."""

    def __init__(self, records: list[SyncRecord]) -> None:
        self.records = records
        self.acked = 0

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        return [r for r in self.records if r.seq > self.acked and r.seq not in exclude][:limit]

    async def mark_acked(self, seqs: Sequence[int]) -> None:
        self.acked = max(self.acked, *seqs)

    async def quarantine(self, rejections: object) -> None:
        raise AssertionError(f"nothing should be quarantined: {rejections}")

    async def backlog(self) -> int:
        return sum(1 for r in self.records if r.seq > self.acked)

    async def quarantine_count(self) -> int:
        return 0


async def test_edge_sync_agent_delivers_to_cloud(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    now = datetime.now(UTC)
    outbox = ListOutbox([SyncRecord(seq=i, kind="audit", occurred_at=now, payload={"i": i}) for i in range(1, 1201)])
    agent = SyncAgent(outbox, cloud_url=cloud.url, site_id=site.site_id, secret=site.secret, batch_size=500)
    try:
        delivered = await agent.flush()
    finally:
        await agent.stop(flush_timeout_s=1)

    assert delivered == 1200
    assert outbox.acked == 1200
    assert await stored_seqs(cloud, site.site_id) == list(range(1, 1201))
    # Each batch reported the backlog (counted before the first batch: all 1200 waiting) and the agent read
    # its clock skew from the cloud's Date header (same machine: about zero).
    async with cloud.db() as session:
        state = await session.get(SiteSyncState, site.site_id)
    assert state is not None and state.backlog == 1200 and state.oldest_pending_at == now
    assert state.clock_skew_s is not None and abs(state.clock_skew_s) < 5
    assert agent.clock_skew_s is not None and abs(agent.clock_skew_s) <= 2


async def test_concurrent_overlapping_batches_store_each_record_once(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    ranges = [range(1, 301), range(200, 501), range(1, 501), range(450, 601)]
    at = datetime.now(UTC)

    responses = await asyncio.gather(*(send_batch(http, site, make_batch(site.site_id, r, at=at)) for r in ranges))

    acks = [SyncAck.model_validate_json(r.content) for r in responses]
    assert sum(a.stored for a in acks) == 600
    assert sum(a.stored + a.duplicates for a in acks) == sum(len(r) for r in ranges)
    assert await stored_seqs(cloud, site.site_id) == list(range(1, 601))
    async with cloud.db() as session:
        row = await session.get(Site, site.site_id)
    assert row is not None and row.last_seq == 600
