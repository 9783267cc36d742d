"""Abusive batches: replayed, expired, wrong-site, malformed, gzip bombs. A clear 4xx and nothing stored.

Runs on SQLite and on PostgreSQL (`db_url`). Also the per-site uplink state HQ sees (clock skew, backlog).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import httpx
from cloud_helpers import enroll, login, make_batch, make_tenant, post_batch, send_batch
from sqlalchemy import func, select

from cloud.app import RunningCloud
from cloud.db.models import Record, SiteSyncState, SyncNonce
from cloud.ingest import NONCE_TTL_S
from sync.codec import MAX_BODY_BYTES, encode_batch
from sync.signing import SITE_HEADER, sign
from sync.wire import SYNC_PATH, EnrollResponse, SyncAck, SyncStatus


async def record_count(cloud: RunningCloud) -> int:
    async with cloud.db() as session:
        return int(await session.scalar(select(func.count()).select_from(Record)) or 0)


async def sync_state(cloud: RunningCloud, site_id: str) -> SiteSyncState | None:
    async with cloud.db() as session:
        return await session.get(SiteSyncState, site_id)


def signed_request(site: EnrollResponse, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    return {
        **sign(site.secret, body, timestamp),
        SITE_HEADER: site.site_id,
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }


def raw_body(site_id: str, **overrides: object) -> bytes:
    body: dict[str, object] = {
        "site_id": site_id,
        "sent_at": datetime.now(UTC).isoformat(),
        "nonce": "n" * 32,
        "records": [{"seq": 1, "kind": "audit", "occurred_at": datetime.now(UTC).isoformat(), "payload": {}}],
    }
    body.update(overrides)
    return gzip.compress(json.dumps({k: v for k, v in body.items() if v is not None}).encode())


async def test_exact_replay_is_409_and_stores_nothing(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, [1, 2, 3]))
    headers = signed_request(site, body)
    first = await http.post(SYNC_PATH, content=body, headers=headers)
    assert first.status_code == 200, first.text

    replay = await http.post(SYNC_PATH, content=body, headers=headers)

    assert replay.status_code == 409, replay.text
    assert replay.json()["error"] == "replayed"
    assert await record_count(cloud) == 3
    state = await sync_state(cloud, site.site_id)
    assert state is not None and state.refusal is not None and state.refusal.startswith("replayed")


async def test_replay_of_a_refused_batch_with_new_records_is_409(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    batch = make_batch(site.site_id, [1])
    assert (await send_batch(http, site, batch)).status_code == 200
    # Same nonce, other records, correctly signed: a nonce is good for one request whatever it carries.
    reused = make_batch(site.site_id, [2, 3]).model_copy(update={"nonce": batch.nonce})

    response = await send_batch(http, site, reused)

    assert response.status_code == 409
    assert await record_count(cloud) == 1


async def test_concurrent_replays_store_once(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, list(range(1, 201))))
    headers = signed_request(site, body)

    responses = await asyncio.gather(*(http.post(SYNC_PATH, content=body, headers=headers) for _ in range(6)))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    assert await record_count(cloud) == 200


async def test_expired_request_is_401_and_its_skew_recorded(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, [1]))

    response = await http.post(SYNC_PATH, content=body, headers=signed_request(site, body, int(time.time()) - 900))

    assert response.status_code == 401
    assert response.json()["error"] == "expired"
    assert await record_count(cloud) == 0
    state = await sync_state(cloud, site.site_id)
    assert state is not None and state.clock_skew_s is not None and -905 < state.clock_skew_s < -895
    assert state.refusal is not None and state.refusal.startswith("expired")


async def test_expired_request_with_a_wrong_signature_is_bad_signature_and_not_recorded(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, [1]))
    headers = {**sign("00" * 32, body, int(time.time()) - 900), SITE_HEADER: site.site_id}

    response = await http.post(SYNC_PATH, content=body, headers=headers)

    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    assert await sync_state(cloud, site.site_id) is None  # nobody's clock skew: the request was not the site's


async def test_skewed_clock_within_window_is_accepted_and_warned_in_the_api_and_portal(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse, tenant: object
) -> None:
    batch = make_batch(site.site_id, [1, 2]).model_copy(
        update={
            "status": SyncStatus(
                backlog=1234,
                oldest_pending_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                quarantined=2,
                last_error="cloud answered 503",
                last_error_at=datetime(2026, 1, 2, 3, 5, tzinfo=UTC),
            )
        }
    )
    body = encode_batch(batch)

    response = await http.post(SYNC_PATH, content=body, headers=signed_request(site, body, int(time.time()) + 120))

    assert response.status_code == 200, response.text
    await login(http, tenant.admin_email)  # type: ignore[attr-defined]
    listed = (await http.get(f"/api/v1/sites/{site.site_id}")).json()
    state = listed["sync"]
    assert 115 < state["clock_skew_s"] < 125 and state["clock_warning"] is True
    assert state["backlog"] == 1234 and state["quarantined"] == 2
    assert state["oldest_pending_at"].startswith("2026-01-02T03:04")
    assert state["edge_error"] == "cloud answered 503" and state["last_batch_at"] is not None
    page = (await http.get(f"/portal/sites/{site.site_id}")).text
    assert "clock off by 1" in page and "1234 record(s)" in page and "cloud answered 503" in page


async def test_batch_signed_by_another_site_is_refused(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    other_tenant = await make_tenant(cloud, "Globex")
    other = await enroll(http, other_tenant.code, hostname="box-2")
    body = encode_batch(make_batch(other.site_id, [1]))

    # The other site's body and signature, sent under this site's id; then this site's id in the body.
    as_this = await post_batch(http, site, body, secret=other.secret)
    mine_signed_by_other = await post_batch(
        http, site, encode_batch(make_batch(site.site_id, [1])), secret=other.secret
    )

    assert as_this.status_code == 401 and as_this.json()["error"] == "bad_signature"
    assert mine_signed_by_other.status_code == 401
    assert await record_count(cloud) == 0


async def test_missing_or_malformed_nonce_is_400(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    for nonce in (None, "short", "x" * 65, "has spaces in it!!!!", 12345678901234567890):
        response = await post_batch(http, site, raw_body(site.site_id, nonce=nonce))
        assert response.status_code == 400, (nonce, response.text)
        assert response.json()["error"] == "bad_batch"
    assert await record_count(cloud) == 0


async def test_malformed_batches_are_400_and_store_nothing(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    bodies = [
        b"",
        gzip.compress(b"[]"),
        gzip.compress(b"null"),
        gzip.compress(b'{"site_id": 1}'),
        raw_body(site.site_id, records="nope"),
        raw_body(site.site_id, sent_at="yesterday"),
        raw_body(site.site_id, sent_at="2026-01-01T00:00:00"),  # naive time
        raw_body(site.site_id, extra_field=True),
        raw_body(site.site_id, status={"backlog": -1}),
        gzip.compress(b"{}")[:-4],  # truncated
        gzip.compress(b"{}") + b"trailing",
    ]
    for body in bodies:
        response = await post_batch(http, site, body)
        assert response.status_code == 400, (body[:40], response.text)
        assert response.json()["error"] == "bad_batch"
    assert await record_count(cloud) == 0


async def test_gzip_bomb_is_refused_without_inflating_it(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    # 128 MiB of JSON whitespace compresses to about 130 KB: small enough to pass the body limit.
    bomb = await asyncio.to_thread(gzip.compress, b"[" + b" " * (128 * 1024 * 1024) + b"]", 9)
    assert len(bomb) < MAX_BODY_BYTES
    headers = signed_request(site, bomb)

    tracemalloc.start()
    try:
        response = await http.post(SYNC_PATH, content=bomb, headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 400, response.text
    assert "too large once decompressed" in response.json()["detail"]
    # The inflate is capped at MAX_BODY_BYTES (8 MiB); the bomb itself would be 128 MiB.
    assert peak < 4 * MAX_BODY_BYTES, peak
    assert await record_count(cloud) == 0


async def test_old_nonces_are_pruned(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=NONCE_TTL_S + 5)
    async with cloud.db.begin() as session:
        session.add(SyncNonce(site_id=site.site_id, nonce="o" * 32, seen_at=long_ago))

    response = await send_batch(http, site, make_batch(site.site_id, [1]))

    assert SyncAck.model_validate_json(response.content).stored == 1
    async with cloud.db() as session:
        nonces = list(await session.scalars(select(SyncNonce.nonce).where(SyncNonce.site_id == site.site_id)))
    assert len(nonces) == 1 and nonces[0] != "o" * 32
