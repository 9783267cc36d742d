"""Zigbee locks as met in the field: reports ~2 s after /set, and bolts that jam (`not_fully_locked`).

A test client plays Zigbee2MQTT against the real embedded broker of a started edge app, with the site's default
lock command timing (`access.command_ack_timeout_s` = 1 s, the lock's default `ack_timeout_s`).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from edge import keys
from firmware_adapters.messages import Command
from tests.firmware_adapters.sinks import spy_acks
from tests.firmware_adapters.sites import EdgeStarter
from tests.firmware_adapters.z2m_bridge import Z2mBridge, z2m_site
from tests.polling import eventually

REPORT_DELAY_S = 2.0


def slow_lock_site(data_dir: Path) -> dict[str, object]:
    """The Zigbee test site with the lock's default ack_timeout_s and a door that stays unlocked 4 s."""
    site = z2m_site(data_dir)
    for device in site["devices"]:
        device.get("adapter", {}).pop("ack_timeout_s", None)
    site["doors"][0]["unlock_s"] = 4
    return site


async def test_a_lock_reporting_after_2s_is_unlocked_once_without_resend_warnings(
    start_edge: EdgeStarter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await start_edge(slow_lock_site(tmp_path / "edge"))
    acks = spy_acks(edge)
    bridge = Z2mBridge(edge.mqtt_port, report_delay_s=REPORT_DELAY_S)
    await bridge.start()
    try:
        door = edge.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: door.status == "locked")
        caplog.set_level(logging.WARNING, logger="edge.access.commands")
        await edge.app[keys.ACCESS].command_door("front", "unlock", by="tester")
        ack = await asyncio.wait_for(acks.get(), 10)
        assert ack.ok, ack.detail
        await eventually(lambda: door.status == "unlocked")
        # The adapter's re-lock after unlock_s is the barrier: no second UNLOCK may come before it.
        assert await asyncio.wait_for(bridge.sets.get(), 10) == ("front_lock", {"state": "UNLOCK"})
        assert await asyncio.wait_for(bridge.sets.get(), 10) == ("front_lock", {"state": "LOCK"})
        assert [r.getMessage() for r in caplog.records if "resending" in r.getMessage()] == []
    finally:
        await bridge.stop()


async def test_a_resent_command_is_not_published_again(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(slow_lock_site(tmp_path / "edge"))
    bridge = Z2mBridge(edge.mqtt_port, report_delay_s=REPORT_DELAY_S)
    await bridge.start()
    try:
        door = edge.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: door.status == "locked")
        gateway = edge.app[keys.GATEWAY]
        unlock = Command(action="unlock", duration_s=None)
        await gateway.send("lock-z", unlock)
        await gateway.send("lock-z", unlock)  # the site's resend of the same command id
        await gateway.send("lock-z", Command(action="lock"))  # barrier: a new command
        assert await asyncio.wait_for(bridge.sets.get(), 10) == ("front_lock", {"state": "UNLOCK"})
        assert await asyncio.wait_for(bridge.sets.get(), 10) == ("front_lock", {"state": "LOCK"})
    finally:
        await bridge.stop()


async def test_the_site_waits_as_long_as_the_zigbee_lock_needs(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(slow_lock_site(tmp_path / "edge"))
    commander = edge.app[keys.ACCESS].commander
    assert edge.app[keys.CONFIG].access.command_ack_timeout_s == 1.0
    assert commander.ack_wait_s("lock-z") > 10.0  # the lock's default ack_timeout_s (10 s) plus a margin
    assert commander.ack_wait_s("reader-front") == 1.0  # native devices ack themselves within the site's timeout


async def test_a_jammed_lock_raises_lock_jammed_and_clears_when_it_locks(
    start_edge: EdgeStarter, tmp_path: Path
) -> None:
    edge = await start_edge(z2m_site(tmp_path / "edge"))
    access = edge.app[keys.ACCESS]
    bridge = Z2mBridge(edge.mqtt_port)
    await bridge.start()

    async def listed() -> list[tuple[str, str, str]]:
        return [(a.door_id, a.alarm, a.state) for a in await access.supervisor.alarms.open_alarms()]

    try:
        door = edge.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: door.status == "locked")
        await access.command_door("front", "unlock", by="tester")
        await eventually(lambda: door.status == "unlocked")
        bridge.jammed.add("front_lock")
        await access.command_door("front", "lock", by="tester")
        # The bolt stops half way: Zigbee2MQTT reports lock_state not_fully_locked, which is not "unlocked".
        await eventually(lambda: door.status == "jammed")
        assert door.as_json()["status"] == "jammed"

        async def jam_listed() -> bool:
            return ("front", "lock_jammed", "active_unacknowledged") in await listed()

        await eventually(jam_listed)

        bridge.jammed.clear()
        await access.command_door("front", "lock", by="tester")
        await eventually(lambda: door.status == "locked")
        assert "lock_jammed" not in door.alarms

        async def jam_cleared() -> bool:
            return ("front", "lock_jammed", "cleared_unacknowledged") in await listed()

        await eventually(jam_cleared)
    finally:
        await bridge.stop()
