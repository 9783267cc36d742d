"""Hostile payloads on the Zigbee2MQTT and Tasmota topics the box listens on: refused payloads are counted,
nothing crashes or moves a lock, and valid traffic sent behind the garbage (the barrier) is still served."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt

from edge import keys
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedReader
from tests.edge.devices.test_mqtt_fuzz import DEPTH, HOSTILE_EVENTS
from tests.edge.site import DEVICE_PASSWORDS
from tests.firmware_adapters.sites import EdgeStarter
from tests.firmware_adapters.test_tasmota_relay import STRIKE_PASSWORD, EmulatedRelay, relay_site
from tests.firmware_adapters.z2m_bridge import Z2mBridge, z2m_site
from tests.polling import eventually

# Never a valid Zigbee2MQTT state: not JSON, or JSON that is not an object.
REFUSED = [b"", b"not json", b"\xff\xfe\x00", b"{", b"[]", b"null", b"1e999", b"[" * DEPTH + b"]" * DEPTH]


async def test_z2m_topics_survive_hostile_payloads(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(z2m_site(tmp_path / "edge"))
    gateway = edge.app[keys.GATEWAY]
    state = edge.app[keys.SITE_STATE]
    bridge = Z2mBridge(edge.mqtt_port)
    await bridge.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        before = gateway.stats()["bad_messages"]
        for topic in ("zigbee2mqtt/front_contact", "zigbee2mqtt/lobby_climate", "zigbee2mqtt/front_lock"):
            for payload in HOSTILE_EVENTS:
                await bridge.publish(topic, payload)
        for payload in HOSTILE_EVENTS:
            await bridge.publish("zigbee2mqtt/bridge/state", payload)
            await bridge.publish("zigbee2mqtt/unknown_thing", payload)
        # The barrier: a valid reading behind the garbage on the same device's topic.
        await bridge.publish("zigbee2mqtt/lobby_climate", {"temperature": 23.5, "humidity": 41, "battery": 90})
        await eventually(lambda: state.devices["climate-z"].values.get("temperature_c") == 23.5)
        assert gateway.stats()["bad_messages"] >= before + len(REFUSED)  # the climate topic's, handled before
        await eventually(lambda: gateway.stats()["bad_messages"] >= before + 3 * len(REFUSED))
        assert state.doors["front"].status == "locked"  # no garbage moved the lock
    finally:
        await bridge.stop()


async def test_tasmota_topics_survive_hostile_payloads(start_edge: EdgeStarter, tmp_path: Path) -> None:
    edge = await start_edge(relay_site(tmp_path / "edge"))
    await edge.app[keys.CREDENTIALS].add_person("Ada Lovelace", ["04A1B2C3"])
    gateway = edge.app[keys.GATEWAY]
    state = edge.app[keys.SITE_STATE]
    relay = EmulatedRelay(edge.mqtt_port)
    await relay.start()
    reader = SimulatedReader(
        SimulatedDeviceConfig(device_id="reader-front", password=DEVICE_PASSWORDS["reader-front"], port=edge.mqtt_port)
    )
    await reader.start()
    try:
        await eventually(lambda: state.doors["front"].status == "locked")
        before = gateway.stats()["bad_messages"]
        async with aiomqtt.Client(
            "127.0.0.1",
            edge.mqtt_port,
            identifier="DVES_fuzz",
            username="strike-front",
            password=STRIKE_PASSWORD,
            protocol=aiomqtt.ProtocolVersion.V311,
        ) as hostile:
            for suffix in ("stat/strike_front/RESULT", "stat/strike_front/POWER", "tele/strike_front/STATE"):
                for payload in HOSTILE_EVENTS:
                    await hostile.publish(suffix, payload, qos=1)
        await eventually(lambda: gateway.stats()["bad_messages"] >= before + len(REFUSED))
        assert state.doors["front"].status == "locked"  # no garbage moved the strike
        # The barrier: a granted badge still pulses the strike after all of it.
        await reader.present("04:a1:b2:c3")
        commands = [(await asyncio.wait_for(relay.commands.get(), 10))[1:] for _ in range(2)]
        assert commands == [("PulseTime1", "50"), ("POWER1", "ON")]
        await eventually(lambda: state.doors["front"].status == "unlocked")
    finally:
        await reader.stop()
        await relay.stop()
