"""Event-loop lag: how late a periodic wake-up runs (a blocked loop delays every badge and request)."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Gauge, Histogram

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLagMonitor:
    """Sleeps `interval_s` in a loop and records how much later than asked each wake-up came."""

    def __init__(self, registry: CollectorRegistry, prefix: str, interval_s: float = 0.5) -> None:
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.last = Gauge(
            f"{prefix}_event_loop_lag_seconds", "Lateness of the last periodic wake-up", registry=registry
        )
        self.lag = Histogram(
            f"{prefix}_event_loop_lag_distribution_seconds",
            "Lateness of periodic wake-ups of the event loop",
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    async def start(self) -> None:
        """Start measuring on the running loop."""
        self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            late = max(0.0, loop.time() - due)
            self.last.set(late)
            self.lag.observe(late)
