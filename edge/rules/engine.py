"""The rules engine: each journaled event -> matching rules -> conditions -> rate limit -> actions.

Evaluation is synchronous and in memory (a journal listener, on the loop, after the event's commit): rules are
indexed by the event kind, type and id their filters name (`edge.rules.matching`), so an event costs only the
rules that could match it.
Actions run in tasks the engine owns. Waiting runs (`for_s`), absence timers and time-of-day triggers go through
a `Timers` book: durable on the box (`edge.rules.timers`), simulated in a dry-run (`edge.rules.dryrun`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from edge.rules.compiled import CompiledRule, UnknownReference
from edge.rules.events import EventReader, RuleEvent
from edge.rules.matching import FilterIndex
from edge.rules.state import SiteView
from edge.storage.journal import JournalEntry
from sync.policy import HolidayCalendar
from sync.rules import AbsenceTrigger, EventTrigger, Rule, TimeTrigger

log = logging.getLogger(__name__)

FOR_KEY = "for"
ABSENCE_KEY = "absence"
TIME_KEY = "time"


@dataclass(frozen=True)
class Firing:
    """One run of a rule: when, what fired it, and the values its texts may use."""

    rule_id: str
    at: datetime
    trigger: str
    journal_id: int | None = None
    values: dict[str, str] = field(default_factory=dict)
    note: str = ""


class ActionFailed(Exception):
    """An action of a rule could not be carried out (the run is recorded as failed with this reason)."""


class RunLog(Protocol):
    """Where run outcomes go (the history table, or a dry-run's list)."""

    def record(
        self, rule_id: str, at: datetime, outcome: str, trigger: str, journal_id: int | None, detail: str
    ) -> None:
        """Note one outcome: ran, failed, suppressed, missed, cancelled, would_run."""


class Timers(Protocol):
    """Timers of waiting runs, absence and time-of-day triggers; call the engine's `timer_due` when one is due."""

    def set(self, rule_id: str, key: str, due: datetime, payload: dict[str, Any]) -> None:
        """Start (or move) a timer."""

    def cancel(self, rule_id: str, key: str) -> None:
        """Stop a timer if it runs."""

    def pending(self, rule_id: str, key: str) -> bool:
        """True if the timer runs."""

    def arm_time(self, rule_id: str, trigger: TimeTrigger) -> None:
        """Follow a time-of-day trigger."""

    def disarm(self, rule_id: str) -> None:
        """Stop every timer of a rule (removed or disabled)."""


Execute = Callable[[Rule, Firing], Awaitable[list[str]]]
_Role = str  # trigger, count, quiet, cancel, absence
_Use = tuple[CompiledRule, _Role, int]  # a rule, what its filter is for there, the condition's index (or -1)


class RulesEngine:
    """Evaluates rules on events and timers (see the module docstring)."""

    def __init__(
        self,
        reader: EventReader,
        view: SiteView,
        *,
        tz: ZoneInfo,
        calendars: dict[str, HolidayCalendar],
        runs: RunLog,
        timers: Timers,
        execute: Execute | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.view = view
        self.tz = tz
        self.calendars = calendars
        self._runs = runs
        self._timers = timers
        self._execute = execute
        self._clock = clock
        self.rules: dict[str, CompiledRule] = {}
        self._index: FilterIndex[_Use] = FilterIndex()
        self._by_sensor: dict[str, list[CompiledRule]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_ran: Callable[[Firing, str], None] | None = None
        self.events = 0
        self.fired = 0
        self.suppressed = 0

    # --- loading -------------------------------------------------------------------------------------------

    def compile(self, rule: Rule) -> CompiledRule:
        """Check a rule against the site and compile it; raise UnknownReference (ValueError) naming the field."""
        return CompiledRule(rule, self.tz, self.calendars)

    def load(self, rules: Iterable[Rule]) -> dict[str, str]:
        """Run these rules from now on (replacing the others); return the ones that could not be compiled."""
        errors: dict[str, str] = {}
        compiled: dict[str, CompiledRule] = {}
        for rule in rules:
            kept = self.rules.get(rule.id)
            if kept is not None and kept.rule == rule and kept.calendars == self.calendars:
                compiled[rule.id] = kept  # unchanged: keeps its windows, latches and rate limit
                continue
            try:
                compiled[rule.id] = self.compile(rule)
            except UnknownReference as err:
                errors[rule.id] = str(err)
                log.error("rule %s not loaded: %s", rule.id, err)
        for rule_id, old in self.rules.items():
            new = compiled.get(rule_id)
            if new is None or not new.rule.enabled or new.rule.trigger != old.rule.trigger:
                self._timers.disarm(rule_id)
        self.rules = compiled
        self._reindex()
        now = self._clock()
        for cr in compiled.values():
            if not cr.rule.enabled:
                continue
            trigger = cr.rule.trigger
            if isinstance(trigger, TimeTrigger):
                self._timers.arm_time(cr.rule.id, trigger)
            elif isinstance(trigger, AbsenceTrigger) and not self._timers.pending(cr.rule.id, ABSENCE_KEY):
                due = now + timedelta(minutes=trigger.minutes)
                self._timers.set(cr.rule.id, ABSENCE_KEY, due, {"armed_at": now.isoformat()})
        return errors

    def _reindex(self) -> None:
        index: FilterIndex[_Use] = FilterIndex()
        by_sensor: dict[str, list[CompiledRule]] = {}
        for cr in self.rules.values():
            if not cr.rule.enabled:
                continue
            trigger = cr.rule.trigger
            if isinstance(trigger, EventTrigger):
                index.add(trigger.filter, (cr, "trigger", -1))
                if trigger.cancel_on is not None:
                    index.add(trigger.cancel_on, (cr, "cancel", -1))
            elif isinstance(trigger, AbsenceTrigger):
                index.add(trigger.filter, (cr, "absence", -1))
            for position, flt, quiet in cr.window_filters():
                index.add(flt, (cr, "quiet" if quiet else "count", position))
            for sensor in cr.sensors():
                by_sensor.setdefault(sensor, []).append(cr)
        self._index = index
        self._by_sensor = by_sensor

    # --- events --------------------------------------------------------------------------------------------

    def on_entry(self, entry: JournalEntry) -> None:
        """Journal listener: evaluate one committed event."""
        try:
            self.on_event(self.reader.read(entry))
        except Exception:  # supervision point: one odd event must not stop the rules (or the journal's listeners)
            log.exception("rules: event %d (%s) could not be evaluated", entry.id, entry.kind)

    def on_event(self, event: RuleEvent) -> None:
        """Evaluate one event against every rule that could match it."""
        self.events += 1
        self.view.update(event)
        fired: list[CompiledRule] = []
        if event.kind == "telemetry" and (sensor := event.attrs.get("sensor")) is not None:
            for cr in self._by_sensor.get(sensor, ()):
                if cr.feed_readings(event):
                    fired.append(cr)
        quiet: list[tuple[CompiledRule, int]] = []
        for cr, role, position in self._index.matching(event):
            if role == "trigger":
                fired.append(cr)
            elif role == "count":
                cr.windows[position].add(event.at)
            elif role == "quiet":
                quiet.append((cr, position))
            elif role == "cancel":
                self._cancel_wait(cr, event)
            elif role == "absence":
                self._rearm_absence(cr, event.at)
        for cr in fired:
            self._triggered(cr, event)
        for cr, position in quiet:  # after the evaluation: an event never breaks its own rule's quiet
            cr.windows[position].add(event.at)

    def warm(self, events: Iterable[RuleEvent]) -> None:
        """Rebuild state from past events (at start): site view, count and quiet windows, sensor latches.

        Nothing fires and no timer moves: those events were evaluated when they happened.
        """
        for event in events:
            self.view.update(event)
            if event.kind == "telemetry" and (sensor := event.attrs.get("sensor")) is not None:
                for cr in self._by_sensor.get(sensor, ()):
                    cr.feed_readings(event)
            for cr, role, position in self._index.matching(event):
                if role in ("count", "quiet"):
                    cr.windows[position].add(event.at)

    def _triggered(self, cr: CompiledRule, event: RuleEvent) -> None:
        if cr.holds(event.at, self.view) is not None:
            return
        rule = cr.rule
        if cr.waits:
            if not self._timers.pending(rule.id, FOR_KEY):
                assert isinstance(rule.trigger, EventTrigger) and rule.trigger.for_s is not None
                due = event.at + timedelta(seconds=rule.trigger.for_s)
                payload = {"trigger": _describe(event), "journal_id": event.journal_id, "values": event.placeholders()}
                self._timers.set(rule.id, FOR_KEY, due, payload)
            return
        # The rate limit before the firing's texts: on a busy site most firings of a noisy rule are dropped.
        if not cr.limiter.allow(event.at):
            self._suppressed(cr, event.at, event.journal_id, lambda: _describe(event))
            return
        trigger = _describe(event)
        self._launch(cr, Firing(rule.id, event.at, trigger, event.journal_id, event.placeholders()))

    def _cancel_wait(self, cr: CompiledRule, event: RuleEvent) -> None:
        if self._timers.pending(cr.rule.id, FOR_KEY):
            self._timers.cancel(cr.rule.id, FOR_KEY)
            self._runs.record(cr.rule.id, event.at, "cancelled", f"{event.kind}/{event.type}", event.journal_id, "")

    def _rearm_absence(self, cr: CompiledRule, at: datetime) -> None:
        trigger = cr.rule.trigger
        assert isinstance(trigger, AbsenceTrigger)
        self._timers.set(cr.rule.id, ABSENCE_KEY, at + timedelta(minutes=trigger.minutes), {"last": at.isoformat()})

    # --- timers --------------------------------------------------------------------------------------------

    def timer_due(self, rule_id: str, key: str, payload: dict[str, Any], due: datetime, now: datetime) -> None:
        """A timer fell due at `due` (now is `now`): run, or record it as missed if it is too late (box was down)."""
        cr = self.rules.get(rule_id)
        if cr is None or not cr.rule.enabled:
            return
        late_s = (now - due).total_seconds()
        trigger = str(payload.get("trigger") or {FOR_KEY: "waited", ABSENCE_KEY: "no event", TIME_KEY: "time"}[key])
        journal_id = payload.get("journal_id")
        journal_id = journal_id if isinstance(journal_id, int) else None
        if late_s > cr.rule.catch_up_s:
            detail = f"due {due.isoformat()}, {late_s:.0f} s late (more than catch_up_s {cr.rule.catch_up_s:g})"
            self._runs.record(rule_id, now, "missed", trigger, journal_id, detail)
            return
        why = cr.holds(now, self.view)
        if why is not None:
            if key == FOR_KEY:
                self._runs.record(rule_id, now, "cancelled", trigger, journal_id, why)
            return
        raw_values = payload.get("values")
        values = {str(k): str(v) for k, v in raw_values.items()} if isinstance(raw_values, dict) else {}
        values.setdefault("summary", trigger)
        note = f"caught up after a restart, {late_s:.1f} s late" if payload.get("resumed") else ""
        self.fire(cr, Firing(rule_id, now, trigger, journal_id, values, note))

    # --- running -------------------------------------------------------------------------------------------

    def fire(self, cr: CompiledRule, firing: Firing) -> None:
        """Run a rule's actions now, within its rate limit."""
        if not cr.limiter.allow(firing.at):
            self._suppressed(cr, firing.at, firing.journal_id, lambda: firing.trigger)
            return
        self._launch(cr, firing)

    def _suppressed(self, cr: CompiledRule, at: datetime, journal_id: int | None, trigger: Callable[[], str]) -> None:
        """Count a firing the rate limit dropped; one history row per burst, not one per event."""
        self.suppressed += 1
        if cr.limiter.suppressed_since_run == 1:
            limit = cr.rule.rate_limit
            detail = f"rate limit {limit.max_runs} per {limit.per_s:g} s"
            self._runs.record(cr.rule.id, at, "suppressed", trigger(), journal_id, detail)

    def _launch(self, cr: CompiledRule, firing: Firing) -> None:
        """Start the run of a firing the rate limit let through."""
        rule = cr.rule
        self.fired += 1
        values = {"rule": rule.name, "rule_id": rule.id, **firing.values}
        values.setdefault("summary", firing.trigger)
        firing = Firing(firing.rule_id, firing.at, firing.trigger, firing.journal_id, values, firing.note)
        if self._execute is None:
            self._runs.record(rule.id, firing.at, "would_run", firing.trigger, firing.journal_id, firing.note)
            return
        task = asyncio.create_task(self._run(rule, firing, self._execute), name=f"rule-{rule.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, rule: Rule, firing: Firing, execute: Execute) -> None:
        try:
            lines = await execute(rule, firing)
        except ActionFailed as err:
            outcome, detail = "failed", str(err)
        except Exception as err:  # supervision point: a rule's bug must not take the engine down; shown as failed
            log.exception("rule %s: actions failed", rule.id)
            outcome, detail = "failed", f"internal error: {err!r}"
        else:
            outcome, detail = "ran", "; ".join(filter(None, [firing.note, *lines]))
        self._runs.record(rule.id, firing.at, outcome, firing.trigger, firing.journal_id, detail)
        if self.on_ran is not None:
            self.on_ran(firing, outcome)

    async def stop(self) -> None:
        """Wait briefly for running actions, then cancel them."""
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _describe(event: RuleEvent) -> str:
    """The one-line trigger text of a firing (history, webhooks)."""
    return f"{event.kind}/{event.type}: {event.summary}" if event.summary else f"{event.kind}/{event.type}"
