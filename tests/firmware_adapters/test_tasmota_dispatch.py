"""Tasmota adapter: each door's messages in order, no door waiting behind another's slow handling.

The adapter runs against a standalone embedded broker, in-process (`local=`) and over TCP; a paho client plays
the relays (a two-relay device for doors 1 and 2, a one-relay device for door 3). The sink blocks on one door's
message as a slow FULL-sync journal write would.
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
from firmware_adapters.tasmota.adapter import TasmotaRelayAdapter
from firmware_adapters.tasmota.config import TasmotaRelayConfig
from tests.brokers import running_broker
from tests.firmware_adapters.sinks import BlockingSink, signal_when_intake_stops
from tests.paho_device import PahoDevice
from tests.polling import eventually

DEVICES = {
    "door-1": TasmotaRelayConfig(topic="relay_a", relay=1),
    "door-2": TasmotaRelayConfig(topic="relay_a", relay=2),
    "door-3": TasmotaRelayConfig(topic="relay_b", relay=1),
}


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """A broker with the adapter's account (its own ACL) and one account for the relays."""
    users: list[BrokerUser] = []
    publish, subscribe = TasmotaRelayAdapter.broker_acl(DEVICES)
    users.append(BrokerUser("adapter", mosquitto_hash("adapter-pw"), publish=publish, subscribe=subscribe))
    users.append(BrokerUser("relays", mosquitto_hash("relays-pw"), publish=("stat/#", "tele/#"), subscribe=()))
    async with running_broker(users, scheme="mosquitto") as site_broker:
        yield site_broker


@pytest.fixture
async def relays(broker: EmbeddedBroker) -> AsyncIterator[PahoDevice]:
    """A paho client publishing as the relays."""
    client = PahoDevice(broker.port, "relays", "relays", "relays-pw")
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


def first_state(device_id: str, message: DeviceMessage) -> bool:
    """Door 1's first periodic STATE (uptime 0) blocks."""
    return device_id == "door-1" and isinstance(message, Telemetry) and message.values.get("uptime_s") == 0


def adapter_for(broker: EmbeddedBroker, *, in_process: bool) -> TasmotaRelayAdapter:
    local = broker.local if in_process else None
    endpoint = MqttEndpoint("127.0.0.1", broker.port, "adapter", "adapter-pw", local=local)
    return TasmotaRelayAdapter(DEVICES, AdapterContext(mqtt=endpoint))


async def state(relays: PahoDevice, seq: int) -> None:
    """Relay device A's periodic tele/STATE (uptime `seq`)."""
    await relays.publish("tele/relay_a/STATE", json.dumps({"UptimeSec": seq}))


def uptime(seq: int) -> tuple[Any, ...]:
    return ("telemetry", {"uptime_s": float(seq)})


@pytest.mark.parametrize("in_process", [True, False], ids=["local", "tcp"])
async def test_a_blocked_door_holds_up_no_other_and_keeps_its_order(
    broker: EmbeddedBroker, relays: PahoDevice, in_process: bool
) -> None:
    sink = BlockingSink(first_state)
    adapter = adapter_for(broker, in_process=in_process)
    await adapter.start(sink)
    try:
        await state(relays, 0)
        await asyncio.wait_for(sink.blocked.wait(), 5)
        for seq in range(1, 11):  # a burst behind the blocked report
            await state(relays, seq)
        await relays.publish("tele/relay_a/LWT", "Offline")  # both doors of device A go offline, each in order
        await relays.publish("stat/relay_b/POWER", "ON")

        await eventually(lambda: len(sink.of("door-3")) == 1 and len(sink.of("door-2")) == 12)
        assert sink.of("door-3") == [("telemetry", {"locked": 0.0})]
        assert sink.of("door-2") == [uptime(seq) for seq in range(11)] + [("status", "offline")]
        assert sink.of("door-1") == []  # all of door 1's messages wait behind its first

        sink.release.set()
        await eventually(lambda: len(sink.of("door-1")) == 12)
        assert sink.of("door-1") == [uptime(seq) for seq in range(11)] + [("status", "offline")]
        assert adapter.bad_messages.total() == 0
    finally:
        sink.release.set()
        await adapter.stop()


async def test_relay_acks_resolve_in_order_while_another_door_blocks(
    broker: EmbeddedBroker, relays: PahoDevice
) -> None:
    sink = BlockingSink(first_state)
    adapter = adapter_for(broker, in_process=True)
    await adapter.start(sink)
    try:
        await state(relays, 0)
        await asyncio.wait_for(sink.blocked.wait(), 5)
        unlock, lock = Command(action="unlock", duration_s=5), Command(action="lock")
        await adapter.send("door-3", unlock)
        await adapter.send("door-3", lock)
        await relays.publish("stat/relay_b/RESULT", json.dumps({"POWER1": "ON"}))
        await relays.publish("stat/relay_b/RESULT", json.dumps({"POWER1": "OFF"}))
        await eventually(lambda: len(sink.of("door-3")) == 4)
        assert not sink.release.is_set()
        assert [m for m in sink.of("door-3") if m[0] == "ack"] == [("ack", unlock.id, True), ("ack", lock.id, True)]
        assert [m for m in sink.of("door-3") if m[0] == "telemetry"] == [
            ("telemetry", {"locked": 0.0}),
            ("telemetry", {"locked": 1.0}),
        ]
    finally:
        sink.release.set()
        await adapter.stop()


async def test_stop_handles_what_was_already_delivered(broker: EmbeddedBroker, relays: PahoDevice) -> None:
    sink = BlockingSink(first_state)
    adapter = adapter_for(broker, in_process=False)
    intake_stopped = signal_when_intake_stops(adapter)
    await adapter.start(sink)
    stopping: asyncio.Task[None] | None = None
    try:
        for seq in range(6):
            await state(relays, seq)
        await relays.publish("stat/relay_b/POWER1", "OFF")
        await asyncio.wait_for(sink.blocked.wait(), 5)
        await eventually(lambda: adapter.received == 7)  # all decoded and queued; door 1's first still blocks
        stopping = asyncio.create_task(adapter.stop())
        await asyncio.wait_for(intake_stopped.wait(), 5)
        assert not stopping.done()
        sink.release.set()
        await asyncio.wait_for(stopping, 5)
        assert sink.of("door-1") == [uptime(seq) for seq in range(6)]
        assert sink.of("door-2") == [uptime(seq) for seq in range(6)]
        assert sink.of("door-3") == [("telemetry", {"locked": 1.0})]
    finally:
        sink.release.set()
        if stopping is None:
            await adapter.stop()
        else:
            await asyncio.gather(stopping, return_exceptions=True)
