"""The site journal: every event is stored locally and queued for the cloud in one transaction."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.storage.database import Database
from edge.storage.schema import events, outbox, outbox_quarantine
from sync.codec import PendingBatch, describe
from sync.wire import RecordKind, RecordRejection, SyncRecord

log = logging.getLogger(__name__)

_INSERT_EVENT = "INSERT INTO events (kind, occurred_at, source, summary, payload) VALUES (?, ?, ?, ?, ?)"
_INSERT_OUTBOX = "INSERT INTO outbox (kind, occurred_at, payload, acked) VALUES (?, ?, ?, 0)"
# The journal's own keys in an outbox record's payload. `journal_id` is the local events row id; the caller's
# ids keep their own names (a badge read's `event_id`), so a payload may not use these.
RESERVED_KEYS = frozenset({"journal_id", "source", "summary"})
# Kinds sent only when nothing else waits, and thinned first under the outbox budget (edge.storage.thinning).
LOW_PRIORITY_KINDS: tuple[RecordKind, ...] = ("telemetry",)


@dataclass(frozen=True)
class JournalEntry:
    """One stored event."""

    id: int
    kind: str
    occurred_at: datetime
    source: str
    summary: str
    payload: dict[str, Any]


def _aware(value: datetime) -> datetime:
    """`value` in UTC: SQLite keeps no offset, so every stored time is UTC (naive input is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class Journal:
    """Writes events durably (event row + outbox row, one commit) and serves them back.

    Writes go through the database's dedicated writer connection (`edge.storage.writer`): one thread hop per
    record instead of SQLAlchemy's five to eight, and records queued during a commit share the next one. Values
    are encoded with the dialect's own bind processors, so rows are byte for byte what SQLAlchemy would store.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[JournalEntry], None]] = []
        dialect = db.engine.dialect
        self._encode_time = events.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._encode_json = events.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
        assert self._encode_time is not None and self._encode_json is not None

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> Callable[[], None]:
        """Call `listener` after each committed event; return an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def record(
        self,
        kind: RecordKind,
        payload: dict[str, Any],
        *,
        source: str = "",
        summary: str = "",
        occurred_at: datetime | None = None,
    ) -> JournalEntry:
        """Store an event and queue it for sync; returns once it is on disk."""
        return await self.submit(kind, payload, source=source, summary=summary, occurred_at=occurred_at)

    def submit(
        self,
        kind: RecordKind,
        payload: dict[str, Any],
        *,
        source: str = "",
        summary: str = "",
        occurred_at: datetime | None = None,
    ) -> asyncio.Future[JournalEntry]:
        """Queue an event for the next commit now; the future resolves once it is on disk.

        For callers that have other work to do meanwhile (the access service commands a lock while its
        audit record is committed). A payload that cannot be encoded, or that uses one of the journal's own keys
        (`RESERVED_KEYS`), raises ValueError here, before anything is queued.
        """
        clash = RESERVED_KEYS.intersection(payload)
        if clash:
            raise ValueError(f"payload keys {sorted(clash)} are the journal's own; name them differently")
        when = _aware(occurred_at or datetime.now(UTC))
        body = {"source": source, "summary": summary, **payload}
        when_value = self._encode_time(when)  # type: ignore[misc]
        payload_json = self._encode_json(payload)  # type: ignore[misc]
        encode_json = self._encode_json

        def write(conn: sqlite3.Connection) -> JournalEntry:
            journal_id = conn.execute(_INSERT_EVENT, (kind, when_value, source, summary, payload_json)).lastrowid
            assert journal_id is not None
            conn.execute(_INSERT_OUTBOX, (kind, when_value, encode_json({"journal_id": journal_id, **body})))  # type: ignore[misc]
            return JournalEntry(journal_id, kind, when, source, summary, payload)

        return self._db.writer.submit(write, on_commit=self._notify)

    async def record_in(
        self,
        conn: AsyncConnection,
        kind: RecordKind,
        payload: dict[str, Any],
        *,
        source: str = "",
        summary: str = "",
    ) -> JournalEntry:
        """Store an event and queue it for sync inside the caller's open write transaction (an edit and its record
        commit together or not at all); call `committed(entry)` after the commit to wake the listeners."""
        clash = RESERVED_KEYS.intersection(payload)
        if clash:
            raise ValueError(f"payload keys {sorted(clash)} are the journal's own; name them differently")
        when = datetime.now(UTC)
        result = await conn.execute(
            insert(events).values(kind=kind, occurred_at=when, source=source, summary=summary, payload=payload)
        )
        journal_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        assert journal_id is not None
        # A config_edit payload is itself a wire model (sync.downlink.LocalEdit, unknown keys refused by the cloud),
        # so it travels without the journal's own keys; the event row keeps source and summary here.
        body = (
            payload
            if kind == "config_edit"
            else {"journal_id": journal_id, "source": source, "summary": summary, **payload}
        )
        await conn.execute(insert(outbox).values(kind=kind, occurred_at=when, payload=body, acked=False))
        return JournalEntry(int(journal_id), kind, when, source, summary, payload)

    def committed(self, entry: JournalEntry) -> None:
        """Tell the listeners about an entry written with `record_in`, once its transaction committed."""
        self._notify(entry)

    def _notify(self, entry: JournalEntry) -> None:
        # On the loop, after the commit, also for a record whose caller stopped waiting.
        for listener in list(self._listeners):
            listener(entry)

    async def recent(
        self, limit: int = 50, kind: str | None = None, *, source: str | None = None
    ) -> list[JournalEntry]:
        """Return the newest events first (of one kind and source, if given)."""
        query = select(events).order_by(events.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        if source is not None:
            query = query.where(events.c.source == source)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JournalEntry(r.id, r.kind, _aware(r.occurred_at), r.source, r.summary, r.payload) for r in rows]


@dataclass(frozen=True)
class QuarantinedRecord:
    """An outbox record set aside: it is not sent until released."""

    seq: int
    kind: str
    occurred_at: datetime
    quarantined_at: datetime
    error: str
    detail: str
    payload: Any


_QUARANTINED = exists().where(outbox_quarantine.c.seq == outbox.c.seq)


# The waiting records of the kinds sent first, through their partial index (edge migration 10): forced, because
# without statistics SQLite prefers ix_outbox_pending and walks a whole telemetry backlog to find them.
# Time and payload come back as stored (text): `Outbox.pending_batch` hands the payload texts on unparsed. The
# records to read past (a batch in flight) are left out in SQL (`?1`, a JSON array of seqs), so no row is fetched
# only to be dropped. Plain driver SQL: this runs for every batch, and SQLAlchemy's result layer adds nothing here.
_WAITING_FIRST = (
    "SELECT seq, kind, occurred_at, payload FROM outbox INDEXED BY ix_outbox_waiting_first "
    "WHERE acked = 0 AND kind <> 'telemetry' "
    "AND NOT EXISTS (SELECT 1 FROM outbox_quarantine q WHERE q.seq = outbox.seq) "
    "AND seq NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?"
)
_WAITING_LOW = (
    "SELECT seq, kind, occurred_at, payload FROM outbox "
    "WHERE acked IS 0 AND kind IN ('telemetry') "
    "AND NOT EXISTS (SELECT 1 FROM outbox_quarantine q WHERE q.seq = outbox.seq) "
    "AND seq NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?"
)
assert LOW_PRIORITY_KINDS == ("telemetry",), "update _WAITING_FIRST, _WAITING_LOW and migration 10 with the kinds"

# The seqs as one JSON array parameter: one cached statement whatever their number (an IN list of bound
# parameters is rendered anew for each call, and SQLite caps the parameters of a statement).
_MARK_ACKED = (
    "UPDATE outbox SET acked = 1 WHERE seq IN (SELECT value FROM json_each(?)) "
    "AND NOT EXISTS (SELECT 1 FROM outbox_quarantine q WHERE q.seq = outbox.seq)"
)

_RECORD_LIST: TypeAdapter[list[SyncRecord]] = TypeAdapter(list[SyncRecord])
# Not JSON, though Python's encoder writes them for a non-finite float: such a batch is encoded record by record.
_NON_FINITE = (b"NaN", b"Infinity")


def _records_json(rows: Sequence[tuple[Any, ...]]) -> bytes | None:
    """The rows as the JSON array of their sync records, payload texts embedded as stored; None if they cannot be.

    SQLite keeps a time as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; on the wire it is ISO 8601 with 'Z'. Anything
    else (a payload that is not JSON text, a time in another shape) fails here or in the validation after it,
    and the batch takes the record-by-record path, which quarantines what is unreadable.
    """
    try:
        wire = orjson.dumps(
            [
                {
                    "seq": seq,
                    "kind": kind,
                    "occurred_at": f"{occurred[:10]}T{occurred[11:]}Z",
                    "payload": orjson.Fragment(payload),
                }
                for seq, kind, occurred, payload in rows
            ]
        )
    except (TypeError, orjson.JSONEncodeError):
        return None
    return None if any(marker in wire for marker in _NON_FINITE) else wire


class Outbox:
    """The queue of records not yet acknowledged by the cloud (implements sync.agent.OutboxSource).

    A record that cannot be delivered (refused by the cloud, or unreadable here) is quarantined instead of
    blocking the queue: it stays unacknowledged, is listed by `quarantined()`, and goes out again once released.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = db.engine.dialect
        # The column types' own decoders: a row read one by one is what SQLAlchemy would return for it.
        decode_time = outbox.c.occurred_at.type.dialect_impl(dialect).result_processor(dialect, None)
        decode_json = outbox.c.payload.type.dialect_impl(dialect).result_processor(dialect, None)
        assert decode_time is not None and decode_json is not None
        self._decode_time = cast("Callable[[Any], datetime]", decode_time)
        self._decode_json = cast("Callable[[Any], dict[str, Any]]", decode_json)

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        """Return up to `limit` unacknowledged records not in quarantine, in seq order, priority kinds first.

        Records of a kind in `LOW_PRIORITY_KINDS` (telemetry) only fill the room the others leave, so audit,
        alarms and events overtake a telemetry backlog (docs/SYNC.md, "Priorities"). A row that is not a valid
        sync record is quarantined here (`unreadable_record`) and skipped. `exclude` (a batch in flight) is
        read past as if acknowledged, and not built into records again (the agent's read-ahead).
        """
        return (await self.pending_batch(limit, exclude)).records

    async def pending_batch(self, limit: int, exclude: Collection[int] = ()) -> PendingBatch:
        """`pending`, with the records' wire form (`sync.codec.PendingBatch`) when every row allows it.

        The common case costs one validation of the whole batch (`TypeAdapter(list[SyncRecord]).validate_json`
        over the stored payload texts) instead of decoding each payload and building each record; if that fails,
        the rows are read one by one and the unreadable ones quarantined, as `pending` always did.
        """
        while True:
            rows = await self._waiting(limit, exclude)
            wire = _records_json(rows)
            if wire is not None:
                try:
                    return PendingBatch(_RECORD_LIST.validate_json(wire), wire)
                except ValidationError:
                    pass  # some row is not a valid record: find it below
            records: list[SyncRecord] = []
            bad: list[RecordRejection] = []
            for seq, kind, occurred, payload in rows:
                try:
                    when = _aware(self._decode_time(occurred))
                    records.append(SyncRecord(seq=seq, kind=kind, occurred_at=when, payload=self._decode_json(payload)))
                except ValidationError as err:
                    bad.append(RecordRejection(seq=seq, error="unreadable_record", detail=describe(err)))
            if not bad:
                return PendingBatch(records)
            await self.quarantine(bad)  # then read again: the batch is filled up from the records behind

    async def _waiting(self, limit: int, exclude: Collection[int]) -> list[tuple[Any, ...]]:
        """Up to `limit` waiting rows (seq, kind, occurred_at, payload as stored), priority kinds first, seq order."""
        skip = orjson.dumps(sorted(exclude)).decode()
        async with self._db.engine.connect() as conn:
            rows = [tuple(r) for r in await conn.exec_driver_sql(_WAITING_FIRST, (skip, limit))]
            if len(rows) < limit:  # then every waiting record of the kinds sent first is in `rows`
                rows += [tuple(r) for r in await conn.exec_driver_sql(_WAITING_LOW, (skip, limit - len(rows)))]
        rows.sort(key=lambda r: r[0])  # a batch is in ascending seq order (sync.wire.SyncBatch)
        return rows

    async def mark_acked(self, seqs: Sequence[int]) -> None:
        """Mark exactly these records as delivered, except any in quarantine (never a range: see `pending`)."""
        async with self._db.engine.begin() as conn:
            await conn.exec_driver_sql(_MARK_ACKED, (orjson.dumps(list(seqs)).decode(),))

    async def quarantine(self, rejections: Sequence[RecordRejection]) -> None:
        """Set records aside with the reason, so the records behind them go on."""
        if not rejections:
            return
        now = datetime.now(UTC)
        for r in rejections:
            log.error("outbox: record %d quarantined (%s): %s", r.seq, r.error, r.detail)
        async with self._db.engine.begin() as conn:
            await conn.execute(
                insert(outbox_quarantine).prefix_with("OR REPLACE"),
                [{"seq": r.seq, "quarantined_at": now, "error": r.error, "detail": r.detail} for r in rejections],
            )

    async def release(self, seqs: Sequence[int] | None = None) -> int:
        """Queue quarantined records again (all of them if `seqs` is None); return how many."""
        query = delete(outbox_quarantine)
        if seqs is not None:
            query = query.where(outbox_quarantine.c.seq.in_(list(seqs)))
        async with self._db.engine.begin() as conn:
            return (await conn.execute(query)).rowcount

    async def quarantined(self, limit: int = 50) -> list[QuarantinedRecord]:
        """Return quarantined records, oldest seq first."""
        query = (
            select(outbox, outbox_quarantine.c.quarantined_at, outbox_quarantine.c.error, outbox_quarantine.c.detail)
            .join(outbox_quarantine, outbox_quarantine.c.seq == outbox.c.seq)
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            QuarantinedRecord(
                r.seq, r.kind, _aware(r.occurred_at), _aware(r.quarantined_at), r.error, r.detail, r.payload
            )
            for r in rows
        ]

    async def backlog(self) -> int:
        """Return how many records wait for the cloud (not counting those in quarantine)."""
        query = select(func.count()).where(outbox.c.acked.is_(False), ~_QUARANTINED)
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)

    async def quarantine_count(self) -> int:
        """Return how many records are in quarantine."""
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox_quarantine))).scalar() or 0)

    async def oldest_pending(self) -> datetime | None:
        """Return when the oldest waiting record (lowest seq) happened, or None when nothing waits."""
        query = select(outbox.c.occurred_at).where(outbox.c.acked.is_(False), ~_QUARANTINED)
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(query.order_by(outbox.c.seq).limit(1))).scalar()
        return None if value is None else _aware(value)
