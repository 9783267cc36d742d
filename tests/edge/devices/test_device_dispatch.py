"""Device messages over the real broker: in order per device, and no device waits behind another's work."""

from __future__ import annotations

import asyncio
import sqlite3

from edge import keys
from firmware_adapters.messages import ContactChange, Telemetry
from tests.polling import eventually


async def test_a_badge_does_not_wait_behind_another_devices_journal_write(edge_app, devices) -> None:
    await edge_app.app[keys.CREDENTIALS].add_person("Ada", ["0004217"])
    state = edge_app.app[keys.SITE_STATE]
    sensor_busy, release = asyncio.Event(), asyncio.Event()
    on_telemetry = state.on_telemetry

    async def slow_telemetry(device_id: str, telemetry: Telemetry) -> None:
        if device_id == "temp-lobby":  # a FULL-sync journal write that takes long (a slow SD card)
            sensor_busy.set()
            await release.wait()
        await on_telemetry(device_id, telemetry)

    state.on_telemetry = slow_telemetry
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    sensor = await devices("temp-lobby", "sensor")
    try:
        await sensor.publish("telemetry", Telemetry(values={"temperature_c": 21.5}))
        await asyncio.wait_for(sensor_busy.wait(), 5)
        read = await reader.present("0004217")
        command = await asyncio.wait_for(lock.commands.get(), 5)
        assert command.action == "unlock"
        assert await reader.wait_receipt(read.id)
        assert not release.is_set()  # all that while, the sensor's message was still being handled
    finally:
        release.set()
    await eventually(lambda: state.devices["temp-lobby"].values.get("temperature_c") == 21.5)
    await eventually(lambda: state.doors["front"].status == "unlocked")  # let the lock finish before stopping


async def test_each_devices_messages_are_handled_in_the_order_sent(edge_app, devices) -> None:
    contact = await devices("contact-front", "contact")
    changes = [ContactChange(open=i % 2 == 0) for i in range(30)]
    for change in changes:  # as fast as the client goes, no waiting in between
        await contact.publish("event", change)
    path = edge_app.config.storage.database_path

    def journaled() -> list[str]:
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT json_extract(payload, '$.event_id') FROM events "
                "WHERE json_extract(payload, '$.type') = 'door_contact' ORDER BY id"
            ).fetchall()
        return [r[0] for r in rows]

    await eventually(lambda: len(journaled()) == len(changes), timeout_s=10)
    assert journaled() == [c.id for c in changes]
    assert edge_app.app[keys.SITE_STATE].doors["front"].open is False  # the last change wins
