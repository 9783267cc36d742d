"""A device re-sends an event whose receipt it missed: the site confirms it again and acts on it once, also when
the edge restarted in between (it remembers the event ids its journal holds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.messages import BadgeRead, ContactChange
from firmware_adapters.simulated import SimulatedContact, SimulatedDeviceConfig, SimulatedLock, SimulatedReader
from tests.edge.site import DEVICE_PASSWORDS, DeviceFactory

BADGE = "0004217"


async def test_a_resent_badge_read_is_confirmed_again_and_decided_once(
    edge_app: EdgeRunner, devices: DeviceFactory
) -> None:
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    contact = await devices("contact-front", "contact")
    journal = edge_app.app[keys.JOURNAL]

    read = BadgeRead(credential=BADGE)
    await reader.publish("event", read)
    assert await reader.wait_receipt(read.id)
    assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"
    opened = ContactChange(open=True)
    await contact.publish("event", opened)
    assert await contact.wait_receipt(opened.id)

    reader.receipts.clear()
    contact.receipts.clear()
    await reader.publish("event", read)  # the same read again: its receipt was lost on the way
    await contact.publish("event", opened)
    assert await reader.wait_receipt(read.id) and await contact.wait_receipt(opened.id)

    barrier = await reader.present(BADGE)  # a new read, after the re-sent one
    assert await reader.wait_receipt(barrier.id)
    assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"
    assert lock.commands.empty()  # one unlock per read: none for the re-sent one

    audits = [e.payload["event_id"] for e in await journal.recent(100, "audit")]
    assert sorted(audits) == sorted([read.id, barrier.id])
    contacts = [e for e in await journal.recent(100, "event") if e.payload.get("type") == "door_contact"]
    assert len([e for e in contacts if e.payload.get("open") is True]) == 1


@asynccontextmanager
async def front_door(runner: EdgeRunner) -> AsyncIterator[tuple[SimulatedReader, SimulatedLock, SimulatedContact]]:
    """The front door's reader, lock and contact, connected to `runner`'s broker."""

    def config(device_id: str) -> SimulatedDeviceConfig:
        return SimulatedDeviceConfig(device_id=device_id, password=DEVICE_PASSWORDS[device_id], port=runner.mqtt_port)

    door = (
        SimulatedReader(config("reader-front")),
        SimulatedLock(config("lock-front")),
        SimulatedContact(config("contact-front")),
    )
    for device in door:
        await device.start()
    try:
        yield door
    finally:
        for device in door:
            await device.stop()


async def test_a_read_resent_across_an_edge_restart_is_confirmed_and_decided_once(edge_config: EdgeConfig) -> None:
    read, opened = BadgeRead(credential=BADGE), ContactChange(open=True)
    runner = EdgeRunner(edge_config)
    await runner.start()
    try:
        await runner.app[keys.CREDENTIALS].add_person("Ada Lovelace", [BADGE])
        async with front_door(runner) as (reader, lock, contact):
            await reader.publish("event", read)
            await contact.publish("event", opened)
            assert await reader.wait_receipt(read.id) and await contact.wait_receipt(opened.id)
            assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"
    finally:
        await runner.stop()  # the decision is on disk; the devices never got (or kept) their receipts

    runner = EdgeRunner(edge_config)  # the same database
    await runner.start()
    try:
        async with front_door(runner) as (reader, lock, contact):
            await reader.publish("event", read)  # sent again, to the restarted edge
            await contact.publish("event", opened)
            assert await reader.wait_receipt(read.id) and await contact.wait_receipt(opened.id)
            after = await reader.present(BADGE)  # a new read is decided as usual
            assert await reader.wait_receipt(after.id)
            assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"
            assert lock.commands.empty()  # one unlock, for the new read: none for the re-sent one

        journal = runner.app[keys.JOURNAL]
        audits = [e.payload["event_id"] for e in await journal.recent(100, "audit")]
        assert sorted(audits) == sorted([read.id, after.id])
        contacts = [e for e in await journal.recent(100, "event") if e.payload.get("type") == "door_contact"]
        assert [e.payload["event_id"] for e in contacts] == [opened.id]
    finally:
        await runner.stop()
