"""Rows of the `records` table as the ingest writes them: each value encoded once, in Python, for its backend.

A batch of 500 records spent most of its insert in SQLAlchemy's per-value bind processing (the `UTCDateTime`
decorator around the dialect's datetime formatting, and `json.dumps` for the payload, for every row). Here the
values are prepared the way those processors would store them and bound through types that pass them on
unchanged: the time a batch was received is encoded once per batch, the payload with orjson, and the rows read
back through `cloud.db.models.Record` exactly as before. `tests/cloud/test_record_rows.py` checks that a row
written here reads back equal to one written through the model's types, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import DateTime, Dialect, Insert, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from cloud.db.models import PayloadJSON, Record
from sync.wire import SyncBatch

RECORDS = cast(Table, Record.__table__)


class _EncodedTime(TypeDecorator[Any]):
    """A `UTCDateTime` value already encoded for the backend (`encode_time`): bound as it is."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class _EncodedJSON(TypeDecorator[Any]):
    """A payload already serialised to JSON text (`encode_payload`): bound as it is (a JSONB cast on PostgreSQL)."""

    impl = PayloadJSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def encode_time(dialect: str, value: datetime) -> Any:
    """`value` as `UTCDateTime` binds it: naive UTC text on SQLite (the dialect's format), aware UTC elsewhere."""
    utc = value.astimezone(UTC)
    if dialect == "sqlite":
        return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    return utc


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


def insert_ignoring_duplicates(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (site_id, seq) DO NOTHING RETURNING seq over rows from `encode_rows`.

    Executed with a list of rows (executemany): SQLAlchemy's "insertmanyvalues" sends multi-row INSERTs from one
    cached compiled statement, where `.values(rows)` would compile a statement of every row's parameters anew
    for each batch. Only new rows come back.
    """
    keys = [RECORDS.c.site_id, RECORDS.c.seq]
    module: Any = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is None:
        raise ValueError(f"unsupported database dialect {dialect!r}")
    statement = module.insert(RECORDS).values(
        site_id=bindparam("site_id"),
        seq=bindparam("seq"),
        kind=bindparam("kind"),
        occurred_at=bindparam("occurred_at", type_=_EncodedTime()),
        payload=bindparam("payload", type_=_EncodedJSON()),
        received_at=bindparam("received_at", type_=_EncodedTime()),
    )
    return cast(Insert, statement.on_conflict_do_nothing(index_elements=keys).returning(RECORDS.c.seq))


def encode_rows(
    dialect: str, batch: SyncBatch, payloads: Sequence[dict[str, Any]], received_at: datetime
) -> list[dict[str, Any]]:
    """The batch's records as rows for `insert_ignoring_duplicates`, with their `payloads` (scrubbed by the caller
    with `storable` when the batch's JSON can hold a NUL or a non-finite number)."""
    received = encode_time(dialect, received_at)
    site_id = batch.site_id
    return [
        {
            "site_id": site_id,
            "seq": record.seq,
            "kind": record.kind,
            "occurred_at": encode_time(dialect, record.occurred_at),
            "payload": encode_payload(payload),
            "received_at": received,
        }
        for record, payload in zip(batch.records, payloads, strict=True)
    ]
