"""Zigbee2MQTT end to end: a test client plays the bridge (its own broker account, Zigbee2MQTT's topics and
payloads) against the real embedded broker of a started edge app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge import keys
from edge.app import EdgeRunner
from edge.broker.directory import hash_password
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedReader
from tests.edge.site import DEVICE_HASHES, DEVICE_PASSWORDS
from tests.firmware_adapters.sinks import spy_acks
from tests.firmware_adapters.sites import EdgeStarter, adapter_site
from tests.polling import eventually

BRIDGE_PASSWORD = "z2m-bridge-pw"
BRIDGE_HASH = hash_password(BRIDGE_PASSWORD)


def z2m_site(data_dir: Path, *, ack_timeout_s: float = 3.0) -> dict[str, Any]:
    def z2m(name: str, **extra: Any) -> dict[str, Any]:
        return {"type": "zigbee2mqtt", "friendly_name": name, **extra}

    devices = [
        {"id": "reader-front", "kind": "reader", "zone": "lobby", "password_hash": DEVICE_HASHES["reader-front"]},
        {"id": "lock-z", "kind": "lock", "zone": "lobby", "adapter": z2m("front_lock", ack_timeout_s=ack_timeout_s)},
        {"id": "contact-z", "kind": "contact", "zone": "lobby", "adapter": z2m("front_contact")},
        {"id": "climate-z", "kind": "sensor", "zone": "lobby", "adapter": z2m("lobby_climate")},
    ]
    doors = [
        {
            "id": "front",
            "name": "Front door",
            "zone": "lobby",
            "lock": "lock-z",
            "readers": ["reader-front"],
            "contact": "contact-z",
            "unlock_s": 1,
        }
    ]
    # The account Zigbee2MQTT itself logs in with (its mqtt.user / mqtt.password), as in docs/MQTT.md.
    bridge = {
        "username": "z2m-bridge",
        "password_hash": BRIDGE_HASH,
        "publish": ["zigbee2mqtt/#"],
        "subscribe": ["zigbee2mqtt/#"],
    }
    return adapter_site(data_dir, devices, doors, accounts=[bridge])


class Z2mBridge:
    """Plays Zigbee2MQTT: retained bridge state and availability, device states, locks that obey /set."""

    def __init__(self, port: int, *, locks_respond: bool = True, report_delay_s: float = 0.05) -> None:
        self.port = port
        self.locks_respond = locks_respond
        self.report_delay_s = report_delay_s  # field Zigbee locks report their new lock_state ~2 s after /set
        self.jammed: set[str] = set()  # locks whose bolt does not fully throw on LOCK
        self.sets: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.lock_state = {"front_lock": "locked"}
        self._client: aiomqtt.Client | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="z2m-bridge")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def publish(self, topic: str, payload: dict[str, Any] | str, *, retain: bool = False) -> None:
        assert self._client is not None
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await self._client.publish(topic, data, qos=1, retain=retain)

    async def report_lock(self, name: str, *, optimistic: str | None = None) -> None:
        state = "LOCK" if self.lock_state[name] == "locked" else "UNLOCK"
        await self.publish(
            f"zigbee2mqtt/{name}",
            {"battery": 84, "linkquality": 105, "lock_state": self.lock_state[name], "state": optimistic or state},
        )

    async def _run(self) -> None:
        will = aiomqtt.Will("zigbee2mqtt/bridge/state", json.dumps({"state": "offline"}), qos=1, retain=True)
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier="z2m-bridge",
            username="z2m-bridge",
            password=BRIDGE_PASSWORD,
            protocol=aiomqtt.ProtocolVersion.V311,
            will=will,
        ) as client:
            self._client = client
            await client.subscribe("zigbee2mqtt/+/set", qos=1)
            await self.publish("zigbee2mqtt/bridge/state", {"state": "online"}, retain=True)
            for name in ("front_lock", "front_contact", "lobby_climate"):
                await self.publish(f"zigbee2mqtt/{name}/availability", {"state": "online"}, retain=True)
            await self.report_lock("front_lock")
            self._ready.set()
            async for message in client.messages:
                name = str(message.topic).split("/")[1]
                command = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                self.sets.put_nowait((name, command))
                if name in self.lock_state and self.locks_respond:
                    # Zigbee2MQTT publishes its optimistic state at once, the lock's own report comes later.
                    await self.report_lock(name, optimistic=command["state"])
                    await asyncio.sleep(self.report_delay_s)  # the lock's radio wakes up and reports (not sync)
                    locked = "not_fully_locked" if name in self.jammed else "locked"
                    self.lock_state[name] = locked if command["state"] == "LOCK" else "unlocked"
                    await self.report_lock(name)


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
        ack = await asyncio.wait_for(acks.get(), 5)
        assert ack.ok, ack.detail
        await eventually(lambda: state.doors["front"].status == "unlocked")
        # unlock_s = 1: Zigbee locks cannot time an unlock, the adapter sends LOCK itself.
        loop = asyncio.get_running_loop()
        unlocked_at = loop.time()
        assert await asyncio.wait_for(bridge.sets.get(), 5) == ("front_lock", {"state": "LOCK"})
        assert 0.7 < loop.time() - unlocked_at < 2.5
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
