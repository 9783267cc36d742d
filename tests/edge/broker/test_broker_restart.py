"""Fault: the site's broker dies and comes back while badges are read.

Devices behave like firmware (tests/firmware_device.py: reconnect by themselves, re-send each event until its
receipt). External Mosquitto (`mqtt.mode = "external"`) killed with SIGKILL: the edge restarts it, its adapters
reconnect, and every badge read, including reads made while the broker was down, is stored exactly once; the door
opens again afterwards. The embedded broker (the default) dies with the edge process: killed mid-burst and started
again on the same port, every read is stored once and confirmed, and the door works again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from edge import keys
from edge.access.credentials import CredentialStore
from edge.app import EdgeRunner
from edge.broker.mosquitto import ManagedMosquitto
from edge.config import EdgeConfig
from edge.storage.database import Database
from tests.edge.broker.test_mosquitto_external import external_config_dict
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.firmware_device import FirmwareLock, FirmwareReader
from tests.net import free_port
from tests.polling import eventually
from tests.sync.test_sync_chaos import EdgeProcess

BADGE = "0004217"
pytestmark = pytest.mark.timeout(120)


async def audited_event_ids(runner: EdgeRunner) -> list[str]:
    """Badge event ids of the audit records, one per stored record."""
    return [e.payload["event_id"] for e in await runner.app[keys.JOURNAL].recent(1000, "audit")]


async def test_a_killed_mosquitto_loses_no_badge_read(tmp_path: Path) -> None:
    runner = EdgeRunner(EdgeConfig.model_validate(external_config_dict(tmp_path / "edge")))
    await runner.start()
    reader = FirmwareReader(runner.mqtt_port, "reader-front", DEVICE_PASSWORDS["reader-front"])
    lock = FirmwareLock(runner.mqtt_port, "lock-front", DEVICE_PASSWORDS["lock-front"])
    try:
        broker = runner.app[keys.BROKER]
        assert isinstance(broker, ManagedMosquitto)
        await runner.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
        await lock.start()
        await reader.start()

        before = [reader.present(BADGE) for _ in range(3)]
        await eventually(lambda: {b.id for b in before} <= reader.receipts, timeout_s=10)
        await lock.wait_commands(3)

        first = broker.pid
        assert first is not None
        in_flight = [reader.present(BADGE) for _ in range(20)]  # a burst the broker dies in the middle of
        os.kill(first, signal.SIGKILL)
        during = [reader.present(BADGE) for _ in range(3)]  # read while the broker is gone

        await eventually(lambda: broker.pid not in (None, first), timeout_s=30)  # the edge restarted it
        sent = before + in_flight + during
        await eventually(lambda: {b.id for b in sent} <= reader.receipts, timeout_s=60)
        assert reader.connects >= 2 and lock.connects >= 2

        # The door works again. (An unlock for a read the broker died under may be lost with the broker's
        # queue: a late unlock is no loss. What must not be lost is the read itself: audited below.)
        since = datetime.now(UTC)
        after = reader.present(BADGE)
        await eventually(lambda: any(c.action == "unlock" and c.ts >= since for c in lock.commands), timeout_s=15)
        await eventually(lambda: after.id in reader.receipts, timeout_s=15)

        audited = await audited_event_ids(runner)
        for badge in [*sent, after]:
            assert audited.count(badge.id) == 1, (badge.id, audited)  # stored once, whatever was re-sent
    finally:
        await reader.stop_async()
        lock.stop()
        await runner.stop()
    assert not reader.unconfirmed


async def test_the_embedded_broker_killed_with_the_edge_loses_no_confirmed_badge_read(tmp_path: Path) -> None:
    """Default mode: the broker lives in the edge process; SIGKILL it mid-burst and start it again."""
    data_dir = tmp_path / "edge"
    port = free_port()
    config_path = tmp_path / "edge.toml"
    config_path.write_text(tomli_w.dumps(site_config_dict(data_dir, mqtt={"host": "127.0.0.1", "port": port})))
    config_path.chmod(0o600)
    db = Database(data_dir / "edge.db")
    await db.migrate()
    await CredentialStore(db).add_person("Ada Lovelace", [BADGE])
    await db.close()
    edge = EdgeProcess(config_path, tmp_path / "edge.log")
    await edge.start()
    reader = FirmwareReader(port, "reader-front", DEVICE_PASSWORDS["reader-front"])
    lock = FirmwareLock(port, "lock-front", DEVICE_PASSWORDS["lock-front"])
    try:
        await lock.start()
        await reader.start()
        before = [reader.present(BADGE) for _ in range(3)]
        await eventually(lambda: {b.id for b in before} <= reader.receipts, timeout_s=10)

        in_flight = [reader.present(BADGE) for _ in range(20)]
        await edge.kill()  # the broker and the site core die together, mid-burst
        during = [reader.present(BADGE) for _ in range(3)]
        await edge.start()  # same port, same database
        sent = before + in_flight + during
        await eventually(lambda: {b.id for b in sent} <= reader.receipts, timeout_s=60)
        assert reader.connects >= 2 and lock.connects >= 2
        since = datetime.now(UTC)
        after = reader.present(BADGE)  # the door works again: an unlock issued after this read
        await eventually(lambda: any(c.action == "unlock" and c.ts >= since for c in lock.commands), timeout_s=15)
        await eventually(lambda: after.id in reader.receipts, timeout_s=15)
        assert await edge.stop() == 0, edge.tail()
    finally:
        await reader.stop_async()
        lock.stop()
        await edge.kill()
    with sqlite3.connect(data_dir / "edge.db") as conn:
        rows = conn.execute("SELECT json_extract(payload, '$.event_id') FROM events WHERE kind = 'audit'").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    audited = [r[0] for r in rows]
    # Every read the site confirmed is stored, once: a re-send whose first copy was stored just before the kill
    # is only confirmed by the restarted edge (it remembers the event ids in its journal, edge/devices/router.py).
    for badge in [*sent, after]:
        assert audited.count(badge.id) == 1, (badge.id, audited)
