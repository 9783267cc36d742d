"""Report the site's inventory (cameras, doors, devices) to the cloud at start-up and every few hours.

The cloud bills per site and day from the highest count it saw that day (docs/BILLING.md); a report is an
ordinary journal record (kind ``inventory``), so it waits in the outbox while the cloud is away.
"""

from __future__ import annotations

import asyncio
import logging

from edge.config.root import EdgeConfig
from edge.storage.journal import Journal
from sync.inventory import INVENTORY_INTERVAL_S, InventoryReport

log = logging.getLogger(__name__)


def inventory_of(config: EdgeConfig) -> InventoryReport:
    """Return the inventory the configuration describes."""
    return InventoryReport(cameras=len(config.cameras), doors=len(config.doors), devices=len(config.devices))


class InventoryReporter:
    """Journals the inventory now and then every `interval_s`, in one owned task."""

    def __init__(self, journal: Journal, report: InventoryReport, interval_s: float = INVENTORY_INTERVAL_S) -> None:
        self._journal = journal
        self._report = report
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Record the first report (on disk when this returns), then keep reporting in the background."""
        await self._record()
        self._task = asyncio.create_task(self._run(), name="inventory-reporter")

    async def stop(self) -> None:
        """Cancel the reporting task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _record(self) -> None:
        r = self._report
        await self._journal.record(
            "inventory",
            r.model_dump(),
            source="site",
            summary=f"{r.cameras} camera(s), {r.doors} door(s), {r.devices} device(s)",
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)  # a periodic report, not synchronisation
            try:
                await self._record()
            except Exception:  # supervision point: a failing database must not end the reports
                log.exception("inventory report failed; trying again in %.0f s", self._interval_s)
