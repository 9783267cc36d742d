"""The rules engine's tables: rule documents, run history (written through the journal's writer), timers."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.rules.schema import rule_runs, rule_timers, rules
from edge.storage.database import Database
from sync.rules import Rule

log = logging.getLogger(__name__)
RuleSource = Literal["local", "cloud"]


def aware(value: datetime) -> datetime:
    """SQLite keeps no offset: stored times are UTC."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """A time as SQLite stores it (what SQLAlchemy's DateTime writes: naive UTC)."""
    return aware(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@dataclass(frozen=True)
class StoredRule:
    """A rule as kept on the box, with where it came from."""

    rule: Rule
    source: RuleSource
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class RunRecord:
    """One line of a rule's execution history."""

    id: int
    rule_id: str
    at: datetime
    outcome: str
    trigger: str
    journal_id: int | None
    detail: str


def _logged(future: asyncio.Future[Any], what: str) -> None:
    def done(f: asyncio.Future[Any]) -> None:
        if not f.cancelled() and f.exception() is not None:
            log.error("rules: %s not stored: %s", what, f.exception())

    future.add_done_callback(done)


class RuleStore:
    """Rule documents (console/API edits and the cloud's)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[StoredRule]:
        """Every stored rule, by id; a row that no longer validates is logged and skipped."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(rules).order_by(rules.c.id))).all()
        found: list[StoredRule] = []
        for row in rows:
            try:
                found.append(
                    StoredRule(Rule.model_validate(row.document), row.source, aware(row.updated_at), row.updated_by)
                )
            except ValidationError as err:
                log.error("stored rule %s is not valid any more and is not run: %s", row.id, err)
        return found

    async def get(self, rule_id: str) -> StoredRule | None:
        """One rule, or None."""
        return next((r for r in await self.all() if r.rule.id == rule_id), None)

    async def save(self, rule: Rule, source: RuleSource, by: str) -> None:
        """Insert or replace a rule."""
        async with self._db.engine.begin() as conn:
            await self.write(conn, rule, source, by)

    @staticmethod
    async def write(conn: AsyncConnection, rule: Rule, source: RuleSource, by: str) -> None:
        """Insert or replace a rule inside the caller's transaction."""
        await conn.execute(delete(rules).where(rules.c.id == rule.id))
        await conn.execute(
            insert(rules).values(
                id=rule.id,
                source=source,
                document=rule.model_dump(mode="json"),
                updated_at=datetime.now(UTC),
                updated_by=by,
            )
        )

    async def delete(self, rule_id: str) -> bool:
        """Remove a rule; True if it existed."""
        async with self._db.engine.begin() as conn:
            return (await conn.execute(delete(rules).where(rules.c.id == rule_id))).rowcount > 0

    @classmethod
    async def replace_cloud_rules(cls, conn: AsyncConnection, cloud_rules: Sequence[Rule]) -> None:
        """The cloud's rules are exactly `cloud_rules` (a document's list), inside the document's transaction."""
        await conn.execute(delete(rules).where(rules.c.source == "cloud"))
        for rule in cloud_rules:
            await cls.write(conn, rule, "cloud", "cloud")


_INSERT_RUN = 'INSERT INTO rule_runs (rule_id, at, outcome, "trigger", journal_id, detail) VALUES (?, ?, ?, ?, ?, ?)'
_TRIM_RUNS = (
    "DELETE FROM rule_runs WHERE rule_id = ? AND id <= "
    "(SELECT id FROM rule_runs WHERE rule_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
)


class RunHistory:
    """Each rule's execution history (implements `edge.rules.engine.RunLog`); trimmed to `keep` rows per rule."""

    def __init__(self, db: Database, keep: int) -> None:
        self._db = db
        self._keep = keep
        self._since_trim: dict[str, int] = {}
        self._buffer: list[tuple[str, str, str, str, int | None, str]] = []
        self._trim: set[str] = set()
        self._flush_soon = False

    def record(
        self, rule_id: str, at: datetime, outcome: str, trigger: str, journal_id: int | None, detail: str
    ) -> None:
        """Queue one outcome; the outcomes of one loop iteration go to the database writer as one write."""
        self._buffer.append((rule_id, iso(at), outcome, trigger[:500], journal_id, detail[:2000]))
        count = self._since_trim.get(rule_id, 0) + 1
        if count >= 50:
            self._trim.add(rule_id)
            count = 0
        self._since_trim[rule_id] = count
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        rows, self._buffer = self._buffer, []
        trim, self._trim = self._trim, set()
        keep = self._keep

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(_INSERT_RUN, rows)
            for rule_id in trim:
                conn.execute(_TRIM_RUNS, (rule_id, rule_id, keep))

        _logged(self._db.writer.submit(write), f"{len(rows)} rule history line(s)")

    async def recent(self, rule_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest outcomes first (of one rule, or of all)."""
        query = select(rule_runs).order_by(rule_runs.c.id.desc()).limit(limit)
        if rule_id is not None:
            query = query.where(rule_runs.c.rule_id == rule_id)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [RunRecord(r.id, r.rule_id, aware(r.at), r.outcome, r.trigger, r.journal_id, r.detail) for r in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Rule id -> outcome -> how many (in the kept history)."""
        query = select(rule_runs.c.rule_id, rule_runs.c.outcome, func.count()).group_by(
            rule_runs.c.rule_id, rule_runs.c.outcome
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        result: dict[str, dict[str, int]] = {}
        for rule_id, outcome, count in rows:
            result.setdefault(rule_id, {})[outcome] = int(count)
        return result


_UPSERT_TIMER = 'INSERT OR REPLACE INTO rule_timers (rule_id, "key", due_at, payload) VALUES (?, ?, ?, ?)'
_DELETE_TIMER = 'DELETE FROM rule_timers WHERE rule_id = ? AND "key" = ?'
_DELETE_RULE_TIMERS = "DELETE FROM rule_timers WHERE rule_id = ?"


class TimerRows:
    """Durable copies of the engine's timers.

    Changes made during one event-loop iteration go to the database writer as one write, the latest change of each
    timer only (an absence timer re-armed by a burst of events is one row write). Durability is what it was with one
    write per change (nobody waited for those either): the writer commits the batch with its next group commit;
    `flush()` hands over what is pending at once and resolves when it is on disk (the timers' stop awaits it).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        # (rule id, key) -> the row to store, or None to delete; (rule id, None) -> delete every timer of the rule.
        self._changes: dict[tuple[str, str | None], tuple[str, str, str, str] | None] = {}
        self._flush_soon = False
        self._last: asyncio.Future[None] | None = None  # the latest write handed over

    async def load(self) -> list[tuple[str, str, datetime, dict[str, Any]]]:
        """Every stored timer: (rule id, key, due, payload)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(rule_timers))).all()
        return [(r.rule_id, r.key, aware(r.due_at), dict(r.payload)) for r in rows]

    def put(self, rule_id: str, key: str, due: datetime, payload: dict[str, Any]) -> None:
        """Store (or move) a timer."""
        self._change((rule_id, key), (rule_id, key, iso(due)), payload)

    def remove(self, rule_id: str, key: str | None = None) -> None:
        """Forget one timer (or every timer of a rule)."""
        if key is None:
            for change in [c for c in self._changes if c[0] == rule_id]:
                del self._changes[change]  # superseded: the rule's rows all go
        self._change((rule_id, key), None, None)

    def _change(
        self, timer: tuple[str, str | None], row: tuple[str, str, str] | None, payload: dict[str, Any] | None
    ) -> None:
        self._changes.pop(timer, None)  # re-inserted last: changes are written in the order they were made
        self._changes[timer] = None if row is None else (*row, json.dumps(payload))
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def flush(self) -> asyncio.Future[None]:
        """Write the pending changes now; the future resolves once they (and all before them) are committed."""
        if self._changes:
            return self._flush()
        if self._last is None:
            self._last = asyncio.get_running_loop().create_future()
            self._last.set_result(None)
        return self._last

    def _flush(self) -> asyncio.Future[None]:
        self._flush_soon = False
        changes, self._changes = self._changes, {}
        if not changes:  # flushed early by `flush()`
            return self.flush()

        def write(conn: sqlite3.Connection) -> None:
            for (rule_id, key), row in changes.items():
                if row is not None:
                    conn.execute(_UPSERT_TIMER, row)
                elif key is None:
                    conn.execute(_DELETE_RULE_TIMERS, (rule_id,))
                else:
                    conn.execute(_DELETE_TIMER, (rule_id, key))

        future = self._db.writer.submit(write)
        _logged(future, f"{len(changes)} timer change(s)")
        self._last = future
        return future
