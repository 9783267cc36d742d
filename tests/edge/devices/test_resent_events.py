"""A device re-sends an event whose receipt it missed: the site confirms it again and acts on it once."""

from __future__ import annotations

import asyncio

from edge import keys
from edge.app import EdgeRunner
from firmware_adapters.messages import BadgeRead, ContactChange
from tests.edge.site import DeviceFactory

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
