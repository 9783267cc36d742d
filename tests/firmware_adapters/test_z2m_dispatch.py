"""Zigbee2MQTT adapter: each device's messages in order, no device waiting behind another's slow handling.

The adapter runs against a standalone embedded broker, in-process (`local=`) and over TCP; a paho client plays
the Zigbee2MQTT bridge. The sink blocks on one device's message as a slow FULL-sync journal write would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edge.broker.directory import BrokerUser
from edge.broker.passwords import mosquitto_hash
from edge.broker.server import EmbeddedBroker
from firmware_adapters.base import AdapterContext, MqttEndpoint
from firmware_adapters.messages import Command, DeviceMessage, Telemetry
from firmware_adapters.zigbee2mqtt.adapter import Zigbee2MqttAdapter
from firmware_adapters.zigbee2mqtt.config import Zigbee2MqttConfig
from tests.brokers import running_broker
from tests.firmware_adapters.sinks import BlockingSink, signal_when_intake_stops
from tests.paho_device import PahoDevice
from tests.polling import eventually

DEVICES = {
    "climate": Zigbee2MqttConfig(friendly_name="lobby_climate"),
    "contact": Zigbee2MqttConfig(friendly_name="front_contact"),
    "lock": Zigbee2MqttConfig(friendly_name="front_lock", ack_timeout_s=5),
}


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """A broker with the adapter's account (its own ACL) and the bridge's."""
    users: list[BrokerUser] = []
    publish, subscribe = Zigbee2MqttAdapter.broker_acl(DEVICES)
    users.append(BrokerUser("adapter", mosquitto_hash("adapter-pw"), publish=publish, subscribe=subscribe))
    users.append(
        BrokerUser("bridge", mosquitto_hash("bridge-pw"), publish=("zigbee2mqtt/#",), subscribe=("zigbee2mqtt/#",))
    )
    async with running_broker(users, scheme="mosquitto") as site_broker:
        yield site_broker


@pytest.fixture
async def bridge(broker: EmbeddedBroker) -> AsyncIterator[PahoDevice]:
    """A paho client publishing as Zigbee2MQTT."""
    client = PahoDevice(broker.port, "z2m-bridge", "bridge", "bridge-pw")
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


def first_reading(device_id: str, message: DeviceMessage) -> bool:
    """The climate sensor's first reading (temperature 0) blocks."""
    return device_id == "climate" and isinstance(message, Telemetry) and message.values.get("temperature_c") == 0


def adapter_for(broker: EmbeddedBroker, *, in_process: bool) -> Zigbee2MqttAdapter:
    local = broker.local if in_process else None
    endpoint = MqttEndpoint("127.0.0.1", broker.port, "adapter", "adapter-pw", local=local)
    return Zigbee2MqttAdapter(DEVICES, AdapterContext(mqtt=endpoint))


async def publish(bridge: PahoDevice, name: str, payload: dict[str, Any]) -> None:
    """Publish a Zigbee2MQTT message under the base topic (QoS 1, waits for the broker's PUBACK)."""
    await bridge.publish(f"zigbee2mqtt/{name}", json.dumps(payload))


def reading(seq: int) -> tuple[Any, ...]:
    return ("telemetry", {"temperature_c": float(seq)})


@pytest.mark.parametrize("in_process", [True, False], ids=["local", "tcp"])
async def test_a_blocked_device_holds_up_no_other_and_keeps_its_order(
    broker: EmbeddedBroker, bridge: PahoDevice, in_process: bool
) -> None:
    sink = BlockingSink(first_reading)
    adapter = adapter_for(broker, in_process=in_process)
    await adapter.start(sink)
    try:
        await publish(bridge, "lobby_climate", {"temperature": 0})
        await asyncio.wait_for(sink.blocked.wait(), 5)
        for seq in range(1, 11):  # a burst behind the blocked reading
            await publish(bridge, "lobby_climate", {"temperature": seq})
        # The bridge goes away: every device goes offline, each after its own earlier messages.
        await publish(bridge, "bridge/state", {"state": "offline"})
        await publish(bridge, "front_contact", {"contact": False})

        await eventually(lambda: len(sink.of("contact")) == 2)
        assert sink.of("contact") == [("status", "offline"), ("contact", True)]
        assert sink.of("lock") == [("status", "offline")]
        assert sink.of("climate") == []  # all of the climate sensor's messages wait behind its first reading

        sink.release.set()
        await eventually(lambda: len(sink.of("climate")) == 12)
        assert sink.of("climate") == [reading(seq) for seq in range(11)] + [("status", "offline")]
        assert adapter.bad_messages.total() == 0
    finally:
        sink.release.set()
        await adapter.stop()


async def test_lock_acks_resolve_in_order_while_another_device_blocks(
    broker: EmbeddedBroker, bridge: PahoDevice
) -> None:
    sink = BlockingSink(first_reading)
    adapter = adapter_for(broker, in_process=False)
    await adapter.start(sink)
    try:
        await publish(bridge, "lobby_climate", {"temperature": 0})
        await asyncio.wait_for(sink.blocked.wait(), 5)
        unlock, lock = Command(action="unlock"), Command(action="lock")
        await adapter.send("lock", unlock)
        await adapter.send("lock", lock)
        await publish(bridge, "front_lock", {"state": "UNLOCK", "lock_state": "unlocked"})
        await publish(bridge, "front_lock", {"state": "LOCK", "lock_state": "locked"})
        await eventually(lambda: len(sink.of("lock")) == 4)
        assert not sink.release.is_set()
        assert [m for m in sink.of("lock") if m[0] == "ack"] == [("ack", unlock.id, True), ("ack", lock.id, True)]
        assert [m for m in sink.of("lock") if m[0] == "telemetry"] == [
            ("telemetry", {"locked": 0.0, "lock_jammed": 0.0}),
            ("telemetry", {"locked": 1.0, "lock_jammed": 0.0}),
        ]
    finally:
        sink.release.set()
        await adapter.stop()


async def test_stop_handles_what_was_already_delivered(broker: EmbeddedBroker, bridge: PahoDevice) -> None:
    sink = BlockingSink(first_reading)
    adapter = adapter_for(broker, in_process=True)
    intake_stopped = signal_when_intake_stops(adapter)
    await adapter.start(sink)
    stopping: asyncio.Task[None] | None = None
    try:
        for seq in range(6):
            await publish(bridge, "lobby_climate", {"temperature": seq})
        await publish(bridge, "front_contact", {"contact": True})
        await asyncio.wait_for(sink.blocked.wait(), 5)
        await eventually(lambda: adapter.received == 7)  # all decoded and queued; the first reading still blocks
        stopping = asyncio.create_task(adapter.stop())
        await asyncio.wait_for(intake_stopped.wait(), 5)
        assert not stopping.done()
        sink.release.set()
        await asyncio.wait_for(stopping, 5)
        assert sink.of("climate") == [reading(seq) for seq in range(6)]
        assert sink.of("contact") == [("contact", False)]
    finally:
        sink.release.set()
        if stopping is None:
            await adapter.stop()
        else:
            await asyncio.gather(stopping, return_exceptions=True)
