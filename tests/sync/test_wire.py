"""Wire format: signing, gzip codec bounds, batch validation."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from sync.codec import MAX_BODY_BYTES, BatchDecodeError, decode_batch, encode_batch
from sync.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify
from sync.wire import SyncBatch, SyncRecord, new_nonce

SECRET = "11" * 32


def _batch(*seqs: int) -> SyncBatch:
    now = datetime.now(UTC)
    return SyncBatch(
        site_id="site-a",
        sent_at=now,
        nonce=new_nonce(),
        records=[SyncRecord(seq=s, kind="event", occurred_at=now, payload={"n": s}) for s in seqs],
    )


def test_roundtrip_and_signature() -> None:
    batch = _batch(1, 2, 3)
    body = encode_batch(batch)
    headers = sign(SECRET, body)
    verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert decode_batch(body) == batch


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, h: (body + b"x", h),
        lambda body, h: (body, {**h, SIGNATURE_HEADER: "0" * 64}),
        lambda body, h: (body, {**h, TIMESTAMP_HEADER: str(int(h[TIMESTAMP_HEADER]) - 1000)}),
        lambda body, h: (body, {TIMESTAMP_HEADER: h[TIMESTAMP_HEADER]}),
    ],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    body = encode_batch(_batch(1))
    body, headers = tamper(body, sign(SECRET, body))
    with pytest.raises(SignatureError):
        verify(SECRET, body, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER))


def test_other_site_secret_fails() -> None:
    body = encode_batch(_batch(1))
    headers = sign("22" * 32, body)
    with pytest.raises(SignatureError, match="mismatch"):
        verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])


def test_decode_rejects_garbage_bombs_and_disorder() -> None:
    with pytest.raises(BatchDecodeError, match="not gzip"):
        decode_batch(b"plain text")
    bomb = gzip.compress(b" " * (MAX_BODY_BYTES + 10))
    with pytest.raises(BatchDecodeError, match="too large"):
        decode_batch(bomb)
    disordered = gzip.compress(_batch(1).model_dump_json().replace('"seq":1', '"seq":0').encode())
    with pytest.raises(BatchDecodeError):
        decode_batch(disordered)
    with pytest.raises(ValueError, match="ascending"):
        _batch(2, 1)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SyncRecord(seq=1, kind="event", occurred_at=datetime(2026, 1, 1), payload={})
