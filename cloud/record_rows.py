"""Rows of the `records` table as the ingest writes them: each value encoded once, in Python, for its backend.

A batch of 500 records spent most of its insert in SQLAlchemy's per-value bind processing (the `UTCDateTime`
decorator around the dialect's datetime formatting, and `json.dumps` for the payload, for every row), and then
in its per-row parameter handling of an executemany. Here the values are prepared the way those processors
would store them and sent as driver SQL (`insert_new_records`): the time a batch was received is encoded once
per batch, the payload with orjson, and the rows read back through `cloud.db.models.Record` exactly as before.
`tests/cloud/test_record_rows.py` checks that a row written here reads back equal to one written through the
model's types, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from sync.wire import SyncBatch


def encode_time(dialect: str, value: datetime) -> Any:
    """`value` as `UTCDateTime` binds it: naive UTC text on SQLite (the dialect's format), aware UTC elsewhere."""
    if dialect == "sqlite":
        text = value.isoformat(" ", "microseconds")
        if text.endswith("+00:00"):  # already UTC, as the edge sends it: the conversion would copy it for nothing
            return text[:-6]
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value.astimezone(UTC)


def storable(value: Any) -> Any:
    """Return a JSON value every backend stores: NUL -> U+FFFD in strings and keys, NaN/inf -> null."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_payload(payload: dict[str, Any]) -> str:
    """A payload as JSON text: orjson (a non-finite number becomes null, as `storable` makes it), or json.dumps
    of the scrubbed payload where orjson refuses (an integer past 64 bits)."""
    try:
        return orjson.dumps(payload).decode()
    except orjson.JSONEncodeError:
        return json.dumps(storable(payload))


# Each record takes its site's tenant (part of the table's key, migration 0021) from `sites` in the statement
# itself: no lookup first, and a site deleted meanwhile stores nothing (the checkpoint update then refuses).
_COLUMNS = "tenant_id, site_id, seq, kind, occurred_at, payload, received_at"
_KEY = "tenant_id, site_id, seq, occurred_at"
# PostgreSQL: one statement whatever the batch size (prepared once per connection), the rows bound as arrays.
_PG_INSERT = (
    f"INSERT INTO records ({_COLUMNS}) "
    "SELECT s.tenant_id, s.id, r.seq, r.kind, r.occurred_at, r.payload::jsonb, $2::timestamptz "
    "FROM sites s, unnest($3::bigint[], $4::text[], $5::timestamptz[], $6::text[]) "
    "AS r(seq, kind, occurred_at, payload) "
    f"WHERE s.id = $1::text ON CONFLICT ({_KEY}) DO NOTHING RETURNING seq"
)
# SQLite: multi-row VALUES of at most this many rows (5 parameters each, far below SQLite's 32,766); the
# statement of each row count is built once and kept in sqlite3's per-connection statement cache.
SQLITE_CHUNK = 500


@lru_cache(maxsize=8)
def _sqlite_insert(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?)"] * rows)
    # The WHERE also keeps SQLite from reading ON CONFLICT as a join constraint (INSERT ... SELECT upsert).
    return (
        f"INSERT INTO records ({_COLUMNS}) "
        "SELECT s.tenant_id, s.id, v.column1, v.column2, v.column3, v.column4, v.column5 "
        f"FROM sites s, (VALUES {values}) AS v WHERE s.id = ? ON CONFLICT ({_KEY}) DO NOTHING RETURNING seq"
    )


async def insert_new_records(
    conn: AsyncConnection,
    batch: SyncBatch,
    payloads: Sequence[dict[str, Any]],
    received_at: datetime,
) -> list[int]:
    """Insert the batch's records with their `payloads`, skipping those already stored; return the new seqs.

    The payloads are scrubbed by the caller with `storable` when the batch's JSON can hold a NUL or a non-finite
    number. INSERT ... ON CONFLICT (the table's key) DO NOTHING RETURNING seq, sent as driver SQL: SQLAlchemy's
    executemany builds a parameter dictionary per row and runs each value through its type's processor, most
    of the insert's CPU for a batch of 2,000 (docs/PERFORMANCE.md). Here each value is encoded once, the way
    those processors store it (`encode_time`, `encode_payload`).
    """
    if not batch.records:
        return []
    dialect = conn.dialect.name
    site_id = batch.site_id
    received = encode_time(dialect, received_at)
    if dialect == "postgresql":
        records = batch.records
        arrays = (
            [r.seq for r in records],
            [r.kind for r in records],
            [r.occurred_at for r in records],
            [encode_payload(p) for p in payloads],
        )
        result = await conn.exec_driver_sql(_PG_INSERT, (site_id, received, *arrays))
        return [seq for (seq,) in result]
    if dialect != "sqlite":
        raise ValueError(f"unsupported database dialect {dialect!r}")
    new: list[int] = []
    pairs = list(zip(batch.records, payloads, strict=True))
    for start in range(0, len(pairs), SQLITE_CHUNK):
        chunk = pairs[start : start + SQLITE_CHUNK]
        params: list[Any] = []
        for record, payload in chunk:
            params += (
                record.seq,
                record.kind,
                encode_time(dialect, record.occurred_at),
                encode_payload(payload),
                received,
            )
        result = await conn.exec_driver_sql(_sqlite_insert(len(chunk)), (*params, site_id))
        new += [seq for (seq,) in result]
    return new
