"""Records the database cannot take as sent: stored safely or refused one by one, never a 500.

Runs on SQLite and on PostgreSQL (`db_url`): PostgreSQL's JSONB refuses a NUL character outright.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from cloud_helpers import make_batch, post_batch, send_batch
from sqlalchemy import select

from cloud.app import RunningCloud
from cloud.db.models import Record, Site
from sync.codec import encode_batch
from sync.signing import SIGNATURE_HEADER, SITE_HEADER, TIMESTAMP_HEADER, sign
from sync.wire import HEALTH_PATH, SYNC_PATH, BadRecordsBody, EnrollResponse, SyncAck, SyncRecord, new_nonce

MAX_SEQ = 2**63 - 1


def raw_batch(site_id: str, records: list[dict[str, object]]) -> bytes:
    """A gzip JSON body built by hand, for values the edge's own models would refuse to build."""
    import gzip

    body = {"site_id": site_id, "sent_at": datetime.now(UTC).isoformat(), "nonce": new_nonce(), "records": records}
    return gzip.compress(json.dumps(body).encode())


def raw_record(seq: int, occurred_at: str | None = None, **payload: object) -> dict[str, object]:
    return {
        "seq": seq,
        "kind": "audit",
        "occurred_at": occurred_at or datetime.now(UTC).isoformat(),
        "payload": payload or {"n": seq},
    }


async def site_row(cloud: RunningCloud, site_id: str) -> Site:
    async with cloud.db() as session:
        row = await session.get(Site, site_id)
    assert row is not None
    return row


async def test_nul_in_text_is_stored_safely(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    now = datetime.now(UTC)
    batch = make_batch(site.site_id, [1, 3])
    batch.records.insert(
        1,
        SyncRecord(seq=2, kind="audit", occurred_at=now, payload={"person": "Bob\x00by", "na\x00me": ["x\x00"]}),
    )

    response = await send_batch(http, site, batch)

    assert response.status_code == 200, response.text
    assert SyncAck.model_validate_json(response.content) == SyncAck(acked_seq=3, stored=3, duplicates=0)
    async with cloud.db() as session:
        record = await session.scalar(select(Record).where(Record.site_id == site.site_id, Record.seq == 2))
    assert record is not None
    # NUL cannot live in PostgreSQL text or JSONB: it is stored as U+FFFD, the Unicode replacement character.
    assert record.payload == {"person": "Bob\ufffdby", "na\ufffdme": ["x\ufffd"]}


async def test_seq_beyond_int64_is_a_400_for_the_batch(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    for seq in (MAX_SEQ + 1, 2**64 + 5):
        response = await post_batch(http, site, raw_batch(site.site_id, [raw_record(1), raw_record(seq)]))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "bad_batch"
        assert "seq" in response.json()["detail"]
    assert (await site_row(cloud, site.site_id)).last_seq == 0


async def test_largest_seq_is_stored(cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse) -> None:
    response = await post_batch(http, site, raw_batch(site.site_id, [raw_record(MAX_SEQ)]))

    assert response.status_code == 200, response.text
    assert SyncAck.model_validate_json(response.content).acked_seq == MAX_SEQ


async def test_unstorable_time_refuses_only_that_record_by_seq(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    records = [
        raw_record(1),
        raw_record(2, "9999-12-31T23:00:00-05:00"),  # year 10000 in UTC
        raw_record(3, "0001-01-01T00:30:00+01:00"),  # year 0 in UTC
        raw_record(4),
    ]

    response = await post_batch(http, site, raw_batch(site.site_id, records))

    assert response.status_code == 422, response.text
    body = BadRecordsBody.model_validate_json(response.content)
    assert body.error == "bad_records"
    assert [r.seq for r in body.rejected] == [2, 3]
    assert all("occurred_at" in r.detail for r in body.rejected)
    async with cloud.db() as session:
        assert (await session.scalars(select(Record.seq).where(Record.site_id == site.site_id))).all() == []

    # The sender leaves the named records out; the rest are stored.
    again = await post_batch(http, site, raw_batch(site.site_id, [records[0], records[3]]))
    assert SyncAck.model_validate_json(again.content) == SyncAck(acked_seq=4, stored=2, duplicates=0)


async def test_invalid_record_is_named_not_the_whole_batch(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    bad_kind = {**raw_record(2), "kind": "gossip"}

    response = await post_batch(http, site, raw_batch(site.site_id, [raw_record(1), bad_kind, raw_record(3)]))

    assert response.status_code == 422, response.text
    rejected = BadRecordsBody.model_validate_json(response.content).rejected
    assert [(r.seq, r.error) for r in rejected] == [(2, "invalid_record")]
    assert "kind" in rejected[0].detail


async def test_duplicate_only_batch_does_not_move_last_sync(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    batch = make_batch(site.site_id, [1, 2])
    await send_batch(http, site, batch)
    first = (await site_row(cloud, site.site_id)).last_sync_at
    assert first is not None

    replay = await send_batch(http, site, batch.model_copy(update={"nonce": new_nonce()}))  # a retry

    assert SyncAck.model_validate_json(replay.content).duplicates == 2
    assert (await site_row(cloud, site.site_id)).last_sync_at == first
    await send_batch(http, site, make_batch(site.site_id, [2, 3]))
    later = (await site_row(cloud, site.site_id)).last_sync_at
    assert later is not None and later > first


async def test_non_finite_number_is_stored_as_null(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    # json.dumps writes NaN and Infinity (not JSON); PostgreSQL's JSONB refuses them.
    body = raw_batch(site.site_id, [raw_record(1, temp=float("nan"), peak=[float("inf"), 2.5])])

    response = await post_batch(http, site, body)

    assert response.status_code == 200, response.text
    async with cloud.db() as session:
        record = await session.scalar(select(Record).where(Record.site_id == site.site_id, Record.seq == 1))
    assert record is not None and record.payload == {"temp": None, "peak": [None, 2.5]}


async def test_health_probe(http: httpx.AsyncClient) -> None:
    response = await http.get(HEALTH_PATH)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_record_without_a_usable_seq_refuses_the_batch(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    """Such a record cannot be named in a 422, so the batch as a whole is a 400 and nothing is stored."""
    missing = raw_record(2)
    del missing["seq"]
    for bad in (missing, {**raw_record(2), "seq": "two"}, {**raw_record(2), "seq": 2.5}, {**raw_record(2), "seq": 0}):
        response = await post_batch(http, site, raw_batch(site.site_id, [raw_record(1), bad]))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "bad_batch" and "records.1.seq" in response.json()["detail"]
    out_of_order = await post_batch(http, site, raw_batch(site.site_id, [raw_record(2), raw_record(1)]))
    assert out_of_order.status_code == 400
    async with cloud.db() as session:
        assert (await session.scalars(select(Record.seq).where(Record.site_id == site.site_id))).all() == []


async def test_headers_that_are_not_ascii_are_refused_not_a_500(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    body = encode_batch(make_batch(site.site_id, [1]))
    signed = sign(site.secret, body)
    cases = [
        {SITE_HEADER: b"\xff\xfe", **signed},  # not UTF-8: the server reads it with surrogate escapes
        {SITE_HEADER: "caf\u00e9".encode(), **signed},
        {SITE_HEADER: site.site_id, TIMESTAMP_HEADER: signed[TIMESTAMP_HEADER], SIGNATURE_HEADER: b"\xc3\xa9" * 32},
        {SITE_HEADER: site.site_id.encode(), TIMESTAMP_HEADER: b"\xff1", SIGNATURE_HEADER: signed[SIGNATURE_HEADER]},
    ]
    for headers in cases:
        response = await http.post(SYNC_PATH, content=body, headers={**headers, "Content-Encoding": "gzip"})
        assert response.status_code == 401, (headers, response.text)
    async with cloud.db() as session:
        assert (await session.scalars(select(Record.seq))).all() == []
