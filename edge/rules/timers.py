"""Durable timers on APScheduler: waiting runs (`for_s`), absence triggers, time-of-day triggers.

Every timer is also a row in `rule_timers`, so a rule waiting when the box stops resumes when it starts again.
Policy for what fell due while the box was down (docs/RULES.md): at start each overdue timer is handed to the
engine once, with how late it is; the engine runs it if it is at most the rule's `catch_up_s` late (default 15
minutes) and records it as *missed* in the rule's history otherwise. A time-of-day trigger keeps its next fire
time as a row too, so the same policy covers one that fell due while the box was down (several missed occurrences
of it are coalesced into one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from edge.rules.engine import TIME_KEY
from edge.rules.store import TimerRows
from sync.rules import TimeTrigger

log = logging.getLogger(__name__)
STORE_SLACK_S = 1.0
Due = Callable[[str, str, dict[str, Any], datetime, datetime], None]
"""The engine's `timer_due(rule_id, key, payload, due, now)`."""


def cron_of(trigger: TimeTrigger, tz: ZoneInfo) -> CronTrigger:
    """The APScheduler trigger of a time-of-day rule trigger, in the site's time zone."""
    return CronTrigger(
        day_of_week=",".join(trigger.days),
        hour=trigger.at.hour,
        minute=trigger.at.minute,
        second=trigger.at.second,
        timezone=tz,
    )


class DurableTimers:
    """Implements `edge.rules.engine.Timers` with APScheduler jobs backed by `rule_timers` rows."""

    def __init__(self, rows: TimerRows, tz: ZoneInfo, clock: Callable[[], datetime]) -> None:
        self._rows = rows
        self._tz = tz
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone=tz)
        self._due: Due | None = None
        self._timers: dict[tuple[str, str], datetime] = {}
        self._overdue: list[tuple[str, str, dict[str, Any], datetime]] = []
        self._payloads: dict[tuple[str, str], dict[str, Any]] = {}
        self._scheduled: dict[tuple[str, str], datetime] = {}  # when the APScheduler job runs
        self._stored: dict[tuple[str, str], datetime] = {}  # the due time in the row

    async def load(self) -> None:
        """Read the stored timers (before the engine loads its rules, so waiting runs are not re-armed)."""
        for rule_id, key, due, payload in await self._rows.load():
            if key == TIME_KEY:
                if due < self._clock():
                    self._overdue.append((rule_id, key, payload, due))
                continue
            self._timers[(rule_id, key)] = due
            self._overdue.append((rule_id, key, payload, due))

    def start(self, due: Due) -> None:
        """Start the scheduler; hand stored timers to `due` (overdue ones now, with how late they are)."""
        self._due = due
        self._scheduler.start()
        now = self._clock()
        for rule_id, key, payload, at in self._overdue:
            if key == TIME_KEY or at <= now:
                self._timers.pop((rule_id, key), None)
                if key != TIME_KEY:
                    self._rows.remove(rule_id, key)
                due(rule_id, key, {**payload, "resumed": True}, at, now)
            else:
                self._payloads[(rule_id, key)] = payload
                self._stored[(rule_id, key)] = at
                self._schedule(rule_id, key, at)
        self._overdue.clear()

    async def stop(self) -> None:
        """Stop the scheduler; stored timers stay for the next start (pending row changes committed first)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        # A failed write is logged where it failed (TimerRows); stopping goes on regardless.
        await asyncio.gather(self._rows.flush(), return_exceptions=True)

    def _schedule(self, rule_id: str, key: str, due: datetime) -> None:
        self._scheduled[(rule_id, key)] = due
        # APScheduler plans by the system clock; the due time is on ours (the same one unless a test steps it).
        ours = self._clock()
        run_date = due + (datetime.now(UTC) - ours)  # read after ours: never before `due` (no early wake-up)
        self._scheduler.add_job(
            self._fire,
            DateTrigger(run_date=run_date),
            args=(rule_id, key),
            id=f"{rule_id}|{key}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _fire(self, rule_id: str, key: str) -> None:
        # A coroutine: APScheduler runs plain functions in a thread, and the engine lives on the loop.
        self._scheduled.pop((rule_id, key), None)
        due = self._timers.get((rule_id, key))
        if due is None:
            return  # cancelled meanwhile
        if due > self._clock():
            self._schedule(rule_id, key, due)  # moved later since it was scheduled (see `set`)
            return
        self._timers.pop((rule_id, key), None)
        self._stored.pop((rule_id, key), None)
        payload = self._payloads.pop((rule_id, key), {})
        self._rows.remove(rule_id, key)
        if self._due is not None:
            self._due(rule_id, key, payload, due, self._clock())

    def clock_stepped(self, step_s: float) -> None:
        """The wall clock stepped by `step_s` (edge.clock): waiting runs and absence periods keep their elapsed time.

        Their due times move by the step (rows rewritten, jobs re-planned), so a forward step does not make them
        late (or missed) and a backward one does not make them wait longer; time-of-day triggers are re-planned
        on the new time.
        """
        step = timedelta(seconds=step_s)
        for timer, due in list(self._timers.items()):
            moved = due + step
            self._timers[timer] = moved
            payload = self._payloads.get(timer, {})
            if self._scheduler.running:
                self._stored[timer] = moved
                self._rows.put(*timer, moved, payload)
                self._schedule(*timer, moved)
        if self._scheduler.running:
            self._scheduler.wakeup()  # time-of-day jobs: planned again from the new wall time

    def set(self, rule_id: str, key: str, due: datetime, payload: dict[str, Any]) -> None:
        """Start (or move) a timer, durably.

        Moving a timer later (an absence trigger re-armed by each matching event) costs no scheduler work: the job
        stays where it was and, when it runs, re-schedules itself to the new time. The row is rewritten when the
        time moved by `STORE_SLACK_S` or more, so after a restart such a timer may fall due up to that much early.
        """
        timer = (rule_id, key)
        self._timers[timer] = due
        self._payloads[timer] = payload
        stored = self._stored.get(timer)
        if stored is None or due < stored or (due - stored).total_seconds() >= STORE_SLACK_S:
            self._stored[timer] = due
            self._rows.put(rule_id, key, due, payload)
        if self._scheduler.running:
            scheduled = self._scheduled.get(timer)
            if scheduled is None or scheduled > due:
                self._schedule(rule_id, key, due)
        else:
            self._overdue = [t for t in self._overdue if (t[0], t[1]) != timer]
            self._overdue.append((rule_id, key, payload, due))

    def cancel(self, rule_id: str, key: str) -> None:
        """Stop a timer."""
        if self._timers.pop((rule_id, key), None) is not None:
            self._payloads.pop((rule_id, key), None)
            self._stored.pop((rule_id, key), None)
            self._rows.remove(rule_id, key)
            if self._scheduled.pop((rule_id, key), None) is not None:
                job = self._scheduler.get_job(f"{rule_id}|{key}")
                if job is not None:
                    job.remove()

    def pending(self, rule_id: str, key: str) -> bool:
        """True if the timer runs."""
        return (rule_id, key) in self._timers

    def due_at(self, rule_id: str, key: str) -> datetime | None:
        """When a timer falls due (console)."""
        return self._timers.get((rule_id, key))

    def arm_time(self, rule_id: str, trigger: TimeTrigger) -> None:
        """Follow a time-of-day trigger; its next fire time is stored for the catch-up policy."""
        cron = cron_of(trigger, self._tz)
        self._scheduler.add_job(
            self._fire_time,
            cron,
            args=(rule_id, cron),
            id=f"{rule_id}|{TIME_KEY}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )
        self._store_next(rule_id, cron, self._clock())

    def _store_next(self, rule_id: str, cron: CronTrigger, after: datetime) -> None:
        upcoming = cron.get_next_fire_time(None, after)
        if upcoming is not None:
            self._rows.put(rule_id, TIME_KEY, upcoming.astimezone(UTC), {})

    async def _fire_time(self, rule_id: str, cron: CronTrigger) -> None:
        now = self._clock()
        self._store_next(rule_id, cron, now)
        if self._due is not None:
            self._due(rule_id, TIME_KEY, {}, now, now)

    def disarm(self, rule_id: str) -> None:
        """Stop and forget every timer of a rule."""
        for key in [k for (r, k) in self._timers if r == rule_id]:
            for book in (self._timers, self._payloads, self._stored, self._scheduled):
                book.pop((rule_id, key), None)
        for job in self._scheduler.get_jobs():
            if job.id.startswith(f"{rule_id}|"):
                job.remove()
        self._rows.remove(rule_id)
