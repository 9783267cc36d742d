"""Zigbee2MQTT end to end: a test client plays the bridge (its own broker account, Zigbee2MQTT's topics and
payloads) against the real embedded broker of a started edge app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge import keys
from edge.app import EdgeRunner
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedReader
from tests.edge.site import DEVICE_PASSWORDS
from tests.firmware_adapters.sinks import spy_acks
from tests.firmware_adapters.sites import EdgeStarter
from tests.firmware_adapters.z2m_bridge import Z2mBridge, z2m_site
from tests.polling import eventually


@pytest.fixture
async def z2m_edge(start_edge: EdgeStarter, tmp_path: Path) -> EdgeRunner:
    return await start_edge(z2m_site(tmp_path / "edge"))


async def test_contact_climate_and_bridge_state_reach_the_site(z2m_edge: EdgeRunner) -> None:
    state = z2m_edge.app[keys.SITE_STATE]
    bridge = Z2mBridge(z2m_edge.mqtt_port)
    await bridge.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        await bridge.publish("zigbee2mqtt/front_contact", {"battery": 100, "contact": False, "linkquality": 69})
        # Opened while locked: supervision raises the alarm once the contact change is recorded.
        await eventually(lambda: state.doors["front"].status == "forced")
        await bridge.publish("zigbee2mqtt/front_contact", {"battery": 100, "contact": True, "linkquality": 72})
        await eventually(lambda: state.doors["front"].open is False)

        await bridge.publish("zigbee2mqtt/lobby_climate", {"temperature": 21.5, "humidity": 40, "battery": 90})
        await eventually(lambda: state.devices["climate-z"].values.get("temperature_c") == 21.5)
        assert state.devices["climate-z"].values["humidity_pct"] == 40.0

        gateway = z2m_edge.app[keys.GATEWAY]
        bad_before = gateway.stats()["bad_messages"]
        await bridge.publish("zigbee2mqtt/front_contact", "not json")
        await eventually(lambda: gateway.stats()["bad_messages"] == bad_before + 1)

        journal = z2m_edge.app[keys.JOURNAL]

        async def contact_changes() -> list[bool]:
            return [
                e.payload["open"] for e in await journal.recent(20, "event") if e.payload.get("type") == "door_contact"
            ]

        # Door state changes before its journal commit, and devices no longer wait for each other: wait for both.
        async def both_recorded() -> bool:
            return len(await contact_changes()) >= 2

        await eventually(both_recorded)
        assert (await contact_changes())[:2] == [False, True]

        # The bridge goes away (its Last Will): every device behind it is offline.
        await bridge.publish("zigbee2mqtt/bridge/state", {"state": "offline"}, retain=True)
        await eventually(lambda: state.doors["front"].status == "offline")
        # Devices are marked offline one after another (each status is journaled): wait for the last as well.
        await eventually(lambda: not state.devices["contact-z"].online and not state.devices["climate-z"].online)
        await bridge.publish("zigbee2mqtt/bridge/state", "online", retain=True)
        await eventually(lambda: state.doors["front"].status == "locked")
    finally:
        await bridge.stop()


async def test_granted_badge_unlocks_the_zigbee_lock_and_the_adapter_relocks(z2m_edge: EdgeRunner) -> None:
    await z2m_edge.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["18:12345"])
    state = z2m_edge.app[keys.SITE_STATE]
    acks = spy_acks(z2m_edge)
    bridge = Z2mBridge(z2m_edge.mqtt_port)
    await bridge.start()
    reader = SimulatedReader(
        SimulatedDeviceConfig(
            device_id="reader-front", password=DEVICE_PASSWORDS["reader-front"], port=z2m_edge.mqtt_port
        )
    )
    await reader.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        await reader.present("18:12345")
        assert await asyncio.wait_for(bridge.sets.get(), 5) == ("front_lock", {"state": "UNLOCK"})
        loop = asyncio.get_running_loop()
        unlocked_at = loop.time()  # the adapter sent UNLOCK before this: the relock is due 1 s after that
        ack = await asyncio.wait_for(acks.get(), 5)
        assert ack.ok, ack.detail
        await eventually(lambda: state.doors["front"].status == "unlocked")
        # unlock_s = 1: Zigbee locks cannot time an unlock, the adapter sends LOCK itself; never early, and within
        # the wait's bound (loose: a loaded 2-core box delays timers).
        assert await asyncio.wait_for(bridge.sets.get(), 10) == ("front_lock", {"state": "LOCK"})
        assert loop.time() - unlocked_at > 0.7
        await eventually(lambda: state.doors["front"].status == "locked")
    finally:
        await reader.stop()
        await bridge.stop()


async def test_a_lock_that_never_reports_gets_a_failed_ack(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(z2m_site(tmp_path / "edge", ack_timeout_s=0.5))
    acks = spy_acks(edge)
    bridge = Z2mBridge(edge.mqtt_port, locks_respond=False)
    await bridge.start()
    try:
        door = edge.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: door.status == "locked")
        await edge.app[keys.ACCESS].command_door("front", "unlock", by="tester")
        assert await asyncio.wait_for(bridge.sets.get(), 5) == ("front_lock", {"state": "UNLOCK"})
        # Without any report from the lock within ack_timeout_s the adapter acks the command as failed.
        ack = await asyncio.wait_for(acks.get(), 5)
        assert not ack.ok
        assert "within 0.5s" in ack.detail
        await eventually(lambda: door.status == "fault")
    finally:
        await bridge.stop()
