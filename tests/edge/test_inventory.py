"""The box reports its inventory (cameras, doors, devices) for billing: at start-up, through the outbox."""

from __future__ import annotations

from pathlib import Path

from edge.inventory import InventoryReporter
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from sync.inventory import InventoryReport


async def test_the_inventory_is_in_the_outbox_once_the_reporter_started(tmp_path: Path) -> None:
    db = Database(tmp_path / "edge.db")
    await db.migrate()
    try:
        reporter = InventoryReporter(Journal(db), InventoryReport(cameras=2, doors=3, devices=5))
        await reporter.start()
        await reporter.stop()
        pending = await Outbox(db).pending(10)
    finally:
        await db.close()
    assert [r.kind for r in pending] == ["inventory"]
    report = InventoryReport.model_validate(pending[0].payload)
    assert (report.cameras, report.doors, report.devices) == (2, 3, 5)
