"""Encode and decode sync batches as gzip JSON."""

from __future__ import annotations

import gzip
import zlib

from sync.wire import SyncBatch

MAX_BODY_BYTES = 8 * 1024 * 1024


class BatchDecodeError(ValueError):
    """The body is not a valid gzip JSON sync batch."""


def encode_batch(batch: SyncBatch) -> bytes:
    """Serialise a batch to gzip-compressed JSON."""
    return gzip.compress(batch.model_dump_json().encode(), compresslevel=6)


def decode_batch(body: bytes) -> SyncBatch:
    """Parse gzip JSON into a validated batch, raising BatchDecodeError."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as err:
        raise BatchDecodeError("body is not gzip") from err
    if len(raw) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise BatchDecodeError("batch too large once decompressed")
    if not inflater.eof or inflater.unused_data:
        raise BatchDecodeError("gzip body is truncated or has trailing bytes")
    try:
        return SyncBatch.model_validate_json(raw)
    except ValueError as err:
        raise BatchDecodeError(str(err)) from err
