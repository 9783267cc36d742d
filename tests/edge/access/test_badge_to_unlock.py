"""A badge read over the real broker opens the door; unknown badges are denied; both audited."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import paho.mqtt.client as paho

from edge import keys
from edge.storage.writer import SqliteWriter
from tests.edge.site import DEVICE_PASSWORDS
from tests.polling import eventually


async def test_known_badge_from_paho_client_unlocks_the_door(edge_app, devices) -> None:
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["0004217"])
    lock = await devices("lock-front", "lock")

    # The reader is a plain paho client with its own device credentials: no Outpost code on that side.
    reader = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="reader-front", protocol=paho.MQTTv311)
    reader.username_pw_set("reader-front", DEVICE_PASSWORDS["reader-front"])
    reader.connect("127.0.0.1", edge_app.mqtt_port)
    reader.loop_start()
    try:
        info = reader.publish(
            "outpost/reader-front/event", json.dumps({"type": "badge", "credential": "0004217"}), qos=1
        )
        await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5)
        command = await asyncio.wait_for(lock.commands.get(), 5)
    finally:
        reader.disconnect()  # before loop_stop: wakes paho's thread, which then ends at once
        await asyncio.to_thread(reader.loop_stop)  # joins that thread: not on the event loop

    assert command.action == "unlock"
    assert command.duration_s == 2
    journal = edge_app.app[keys.JOURNAL]

    async def audited() -> bool:
        return any(e.payload.get("granted") for e in await journal.recent(10, "audit"))

    await eventually(audited)
    audit = (await journal.recent(10, "audit"))[0]
    assert audit.payload["reason"] == "granted"
    assert audit.payload["person"] == "Ada Lovelace"
    assert audit.payload["door_id"] == "front"
    assert edge_app.app[keys.SYNC] is None  # no cloud at all


async def test_unknown_badge_is_denied_and_audited(edge_app, devices) -> None:
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    badge = await reader.present("9999999")
    assert await reader.wait_receipt(badge.id), "the site never confirmed the badge event"
    entries = await edge_app.app[keys.JOURNAL].recent(10, "audit")
    assert entries[0].payload["granted"] is False
    assert entries[0].payload["reason"] == "unknown_credential"
    # Barrier: a command sent after the decision; an unlock for the denied badge would have reached the lock first.
    barrier = await edge_app.app[keys.ACCESS].command_door("front", "lock", by="tester")
    first = await asyncio.wait_for(lock.commands.get(), 5)
    assert (first.id, first.action) == (barrier.id, "lock")


async def test_lock_state_comes_from_the_device(edge_app, devices) -> None:
    state = edge_app.app[keys.SITE_STATE]
    assert state.doors["front"].status == "offline"
    lock = await devices("lock-front", "lock")

    async def locked() -> bool:
        return state.doors["front"].status == "locked"

    await eventually(locked)
    await edge_app.app[keys.ACCESS].command_door("front", "unlock", by="tester")
    await asyncio.wait_for(lock.commands.get(), 5)

    async def unlocked() -> bool:
        return state.doors["front"].status == "unlocked"

    await eventually(unlocked)
    await lock.stop()

    async def offline() -> bool:
        return state.doors["front"].status == "offline"

    await eventually(offline)


async def test_receipt_comes_only_once_the_audit_record_is_on_disk(edge_app, devices, monkeypatch) -> None:
    """The lock may be commanded while the audit commits (actuation is not acknowledgement); the reader's
    receipt is sent only after. Checked from the reader's side, at the moment each receipt arrives."""
    await edge_app.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["0004217"])
    commit = SqliteWriter._commit

    def slow_disk(self: SqliteWriter, conn: sqlite3.Connection, batch: list) -> None:  # type: ignore[type-arg]
        time.sleep(0.03)  # an SD card's fsync: a receipt sent before the commit would now arrive first
        commit(self, conn, batch)

    monkeypatch.setattr(SqliteWriter, "_commit", slow_disk)
    lock = await devices("lock-front", "lock")
    path = edge_app.config.storage.database_path
    stored_at_receipt: dict[str, bool] = {}
    all_received = asyncio.Event()
    loop = asyncio.get_running_loop()
    reads = [{"type": "badge", "id": f"read-{i}", "credential": "0004217" if i % 2 else "9999"} for i in range(10)]

    def on_receipt(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        event_id = json.loads(message.payload)["id"]
        # Runs in paho's thread the moment the receipt arrives, before anything else happens in the test.
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT count(*) FROM events WHERE kind = 'audit' AND json_extract(payload, '$.event_id') = ?",
                (event_id,),
            ).fetchone()
        stored_at_receipt[event_id] = rows == (1,)
        if len(stored_at_receipt) == len(reads):
            loop.call_soon_threadsafe(all_received.set)

    subscribed = asyncio.Event()
    reader = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="reader-front", protocol=paho.MQTTv311)
    reader.username_pw_set("reader-front", DEVICE_PASSWORDS["reader-front"])
    reader.on_message = on_receipt
    reader.on_subscribe = lambda *_args: loop.call_soon_threadsafe(subscribed.set)
    reader.connect("127.0.0.1", edge_app.mqtt_port)
    reader.loop_start()
    try:
        reader.subscribe("outpost/reader-front/receipt", qos=1)
        await asyncio.wait_for(subscribed.wait(), 5)
        for read in reads:
            reader.publish("outpost/reader-front/event", json.dumps(read), qos=1)
        await asyncio.wait_for(all_received.wait(), 10)
    finally:
        reader.disconnect()  # before loop_stop: wakes paho's thread, which then ends at once
        await asyncio.to_thread(reader.loop_stop)  # joins that thread: not on the event loop
    assert stored_at_receipt == {read["id"]: True for read in reads}
    commands = [await asyncio.wait_for(lock.commands.get(), 5) for _ in range(5)]
    assert {c.action for c in commands} == {"unlock"}
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].status == "unlocked")
