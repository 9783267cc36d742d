"""Dry-run: replay the journal's last day through a fresh engine and list what the rules would have done.

The replay builds its own site view from the replayed events, runs timers on the replay's clock (waiting runs,
absence and time-of-day triggers included) and runs no action: each firing is listed as ``would_run``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from edge.rules.engine import TIME_KEY, RulesEngine
from edge.rules.events import EventReader
from edge.rules.state import SiteView
from edge.rules.store import aware
from edge.rules.timers import cron_of
from edge.storage.database import Database
from edge.storage.journal import JournalEntry
from edge.storage.schema import events
from sync.policy import HolidayCalendar
from sync.rules import Rule, TimeTrigger

MAX_EVENTS = 200_000
RULE_KINDS = ("event", "audit", "detection", "device_status", "telemetry")


@dataclass(frozen=True)
class DryRunHit:
    """What a rule would have done (or why not)."""

    rule_id: str
    at: datetime
    outcome: str
    trigger: str
    journal_id: int | None
    detail: str


@dataclass
class DryRunResult:
    """The replay's outcome."""

    since: datetime
    until: datetime
    events: int
    hits: list[DryRunHit] = field(default_factory=list)
    truncated: bool = False

    def counts(self) -> dict[str, dict[str, int]]:
        """Rule id -> outcome -> how many."""
        result: dict[str, dict[str, int]] = {}
        for hit in self.hits:
            per = result.setdefault(hit.rule_id, {})
            per[hit.outcome] = per.get(hit.outcome, 0) + 1
        return result


class _Hits:
    def __init__(self, result: DryRunResult) -> None:
        self._result = result

    def record(
        self, rule_id: str, at: datetime, outcome: str, trigger: str, journal_id: int | None, detail: str
    ) -> None:
        self._result.hits.append(DryRunHit(rule_id, at, outcome, trigger, journal_id, detail))


class _ReplayTimers:
    """Timers on the replay's clock (implements `edge.rules.engine.Timers`)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._heap: list[tuple[datetime, int, str, str, dict[str, Any]]] = []
        self._live: dict[tuple[str, str], int] = {}
        self._crons: dict[str, tuple[CronTrigger, datetime | None]] = {}
        self._seq = itertools.count()
        self.engine: RulesEngine | None = None
        self.now = datetime.now(UTC)

    def set(self, rule_id: str, key: str, due: datetime, payload: dict[str, Any]) -> None:
        seq = next(self._seq)
        self._live[(rule_id, key)] = seq
        heapq.heappush(self._heap, (due, seq, rule_id, key, payload))

    def cancel(self, rule_id: str, key: str) -> None:
        self._live.pop((rule_id, key), None)

    def pending(self, rule_id: str, key: str) -> bool:
        return (rule_id, key) in self._live

    def arm_time(self, rule_id: str, trigger: TimeTrigger) -> None:
        cron = cron_of(trigger, self._tz)
        self._crons[rule_id] = (cron, cron.get_next_fire_time(None, self.now))

    def disarm(self, rule_id: str) -> None:
        for key in [k for (r, k) in self._live if r == rule_id]:
            self._live.pop((rule_id, key), None)
        self._crons.pop(rule_id, None)

    def advance(self, to: datetime) -> None:
        """Fire every timer due up to `to`, in time order."""
        assert self.engine is not None
        while True:
            next_cron = min(
                ((at, rule_id) for rule_id, (_c, at) in self._crons.items() if at is not None and at <= to),
                default=None,
            )
            next_timer = self._heap[0] if self._heap and self._heap[0][0] <= to else None
            if next_cron is None and next_timer is None:
                return
            if next_timer is not None and (next_cron is None or next_timer[0] <= next_cron[0]):
                due, seq, rule_id, key, payload = heapq.heappop(self._heap)
                if self._live.get((rule_id, key)) != seq:
                    continue  # moved or cancelled since
                del self._live[(rule_id, key)]
                self.now = due
                self.engine.timer_due(rule_id, key, payload, due, due)
            else:
                assert next_cron is not None
                at, rule_id = next_cron
                cron, _ = self._crons[rule_id]
                self._crons[rule_id] = (cron, cron.get_next_fire_time(at, at + timedelta(seconds=1)))
                self.now = at
                self.engine.timer_due(rule_id, TIME_KEY, {}, at, at)


async def recent_entries(db: Database, since: datetime, limit: int = MAX_EVENTS) -> tuple[list[JournalEntry], bool]:
    """Journaled events since `since`, oldest first (at most `limit`; True if there were more)."""
    query = (
        select(events)
        .where(events.c.occurred_at >= since, events.c.kind.in_(RULE_KINDS))
        .order_by(events.c.occurred_at, events.c.id)
        .limit(limit + 1)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    entries = [JournalEntry(r.id, r.kind, aware(r.occurred_at), r.source, r.summary, r.payload) for r in rows]
    return entries[:limit], len(entries) > limit


async def latest_entries(db: Database, since: datetime, limit: int) -> list[JournalEntry]:
    """The newest `limit` journaled events since `since`, oldest first."""
    query = (
        select(events)
        .where(events.c.occurred_at >= since, events.c.kind.in_(RULE_KINDS))
        .order_by(events.c.id.desc())
        .limit(limit)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [JournalEntry(r.id, r.kind, aware(r.occurred_at), r.source, r.summary, r.payload) for r in reversed(rows)]


def replay(
    rules: Sequence[Rule],
    entries: Sequence[JournalEntry],
    reader: EventReader,
    *,
    door_zones: dict[str, str],
    tz: ZoneInfo,
    calendars: dict[str, HolidayCalendar],
    since: datetime,
    until: datetime,
) -> DryRunResult:
    """Run `rules` over `entries` on the replay's clock (pure: nothing is stored, no action runs)."""
    result = DryRunResult(since=since, until=until, events=len(entries))
    timers = _ReplayTimers(tz)
    timers.now = since
    engine = RulesEngine(
        reader,
        SiteView(door_zones),
        tz=tz,
        calendars=calendars,
        runs=_Hits(result),
        timers=timers,
        execute=None,
        clock=lambda: timers.now,
    )
    timers.engine = engine
    engine.load([r for r in rules if r.enabled])
    for entry in entries:
        timers.advance(entry.occurred_at)
        timers.now = entry.occurred_at
        engine.on_event(reader.read(entry))
    timers.advance(until)
    return result


async def dry_run(
    db: Database,
    rules: Sequence[Rule],
    reader: EventReader,
    *,
    door_zones: dict[str, str],
    tz: ZoneInfo,
    calendars: dict[str, HolidayCalendar],
    hours: float = 24,
) -> DryRunResult:
    """Replay the last `hours` of the journal through `rules`."""
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)
    entries, truncated = await recent_entries(db, since)
    # In a worker thread: a day of a busy site is seconds of evaluation, which must not hold up the loop.
    result = await asyncio.to_thread(
        replay, rules, entries, reader, door_zones=door_zones, tz=tz, calendars=calendars, since=since, until=until
    )
    result.truncated = truncated
    return result
