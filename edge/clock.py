"""The edge's wall clock, and notice when it steps (NTP correcting a box that booted with a wrong RTC, an operator).

Components take the clock as a `Callable[[], datetime]` (`WallClock.now`); the ones that wait for a wall-clock
moment also subscribe to its steps. Policy (docs/RULES.md, docs/ACCESS.md, "Clock steps"): durations keep
measuring elapsed time (a rule waiting `for_s`, an absence period: their due times move with the step, so a
forward step does not make them "missed" and a backward step does not make them wait longer); wall-clock moments
follow the new time at once (door schedules are re-evaluated, time-of-day triggers re-planned).

A step is noticed by comparing the wall clock with the monotonic clock once a second: a change of their difference
larger than `threshold_s` is a step (NTP's slewing moves it by milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)
STEP_THRESHOLD_S = 2.0
WATCH_INTERVAL_S = 1.0
StepListener = Callable[[float], None]
"""Called with the step in seconds (positive: the clock moved forward)."""


def system_now() -> datetime:
    """The system's wall clock, in UTC."""
    return datetime.now(UTC)


class WallClock:
    """UTC now from `source`, and a watch that tells subscribers when it steps."""

    def __init__(
        self,
        source: Callable[[], datetime] = system_now,
        *,
        threshold_s: float = STEP_THRESHOLD_S,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        self._source = source
        self._threshold_s = threshold_s
        self._interval_s = interval_s
        self._listeners: list[StepListener] = []
        self._offset = self._measure()
        self._task: asyncio.Task[None] | None = None
        self.steps = 0

    def now(self) -> datetime:
        """The current time (aware, UTC)."""
        return self._source()

    def subscribe(self, listener: StepListener) -> Callable[[], None]:
        """Call `listener(step_s)` after each step; return a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _measure(self) -> float:
        return self._source().timestamp() - time.monotonic()

    def check(self) -> float | None:
        """Compare with the monotonic clock once; on a step, tell the subscribers and return it."""
        offset = self._measure()
        step, self._offset = offset - self._offset, offset
        if abs(step) < self._threshold_s:
            return None
        self.steps += 1
        log.warning("the wall clock stepped by %+.1f s; timers and schedules follow", step)
        for listener in list(self._listeners):
            try:
                listener(step)
            except Exception:  # supervision point: one component's failure must not keep the step from the others
                log.exception("clock step listener failed")
        return step

    async def start(self) -> None:
        """Start watching for steps."""
        self._offset = self._measure()
        self._task = asyncio.create_task(self._watch(), name="clock-watch")

    async def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            self.check()
