"""SIGTERM during a burst of badge reads loses no event the site confirmed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import tomli_w

from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedReader
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.polling import eventually


async def test_sigterm_keeps_every_confirmed_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "edge"
    config_path = tmp_path / "edge.toml"
    config_path.write_text(tomli_w.dumps(site_config_dict(data_dir)))
    config_path.chmod(0o600)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge.cli",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    port = None
    while port is None:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, "edge exited before it was ready"
        match = re.search(r"mqtt port (\d+)", line)
        port = int(match.group(1)) if match else None

    reader = SimulatedReader(
        SimulatedDeviceConfig(device_id="reader-front", password=DEVICE_PASSWORDS["reader-front"], port=port)
    )
    await reader.start()
    sent = [await reader.present(f"card-{i}") for i in range(40)]
    await eventually(lambda: reader.receipts, timeout_s=10)  # SIGTERM once the site has confirmed some
    proc.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(proc.communicate(), 30)
    await reader.stop()
    assert proc.returncode == 0, output.decode()[-2000:]

    confirmed = {b.id for b in sent} & reader.receipts
    assert confirmed, "no event was confirmed before SIGTERM"
    with sqlite3.connect(data_dir / "edge.db") as db:
        rows = db.execute("SELECT json_extract(payload, '$.event_id') FROM events WHERE kind='audit'").fetchall()
        stored = {r[0] for r in rows}
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert confirmed <= stored
    assert outbox == events  # every stored event is queued for the cloud too
