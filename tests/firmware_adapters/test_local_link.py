"""LocalLink: an adapter's in-process connection to the embedded broker, with MqttLink's interface."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from edge.broker.directory import BrokerUser
from edge.broker.passwords import mosquitto_hash
from edge.broker.server import EmbeddedBroker
from firmware_adapters.base import AdapterError, MqttEndpoint
from firmware_adapters.local_link import LocalLink
from firmware_adapters.mqtt_link import MqttLink, open_link
from tests.brokers import running_broker
from tests.paho_device import PahoDevice
from tests.polling import eventually


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    """An embedded broker with a core account (t/in/# in, t/out/# out) and a device account."""
    users: list[BrokerUser] = []
    users.append(BrokerUser("core", mosquitto_hash("core-pw"), publish=("t/out/#",), subscribe=("t/in/#",)))
    users.append(BrokerUser("dev", mosquitto_hash("dev-pw"), publish=("t/in/#",), subscribe=("t/out/#",)))
    async with running_broker(users, scheme="mosquitto") as site_broker:
        yield site_broker


def endpoint(broker: EmbeddedBroker, username: str = "core") -> MqttEndpoint:
    """The core account's endpoint with the broker's in-process hub."""
    return MqttEndpoint("127.0.0.1", broker.port, username, "", local=broker.local)


async def test_open_link_picks_the_in_process_link_only_when_the_broker_is_local(broker: EmbeddedBroker) -> None:
    """`open_link` gives a LocalLink for an endpoint with a local broker, MqttLink (TCP) otherwise."""

    async def ignore(_topic: str, _payload: bytes) -> None:
        return None

    assert isinstance(open_link(endpoint(broker), ["t/in/#"], ignore, name="x"), LocalLink)
    tcp = MqttEndpoint("127.0.0.1", broker.port, "core", "core-pw")
    assert isinstance(open_link(tcp, ["t/in/#"], ignore, name="x"), MqttLink)


async def test_messages_in_order_and_publishes_reach_a_tcp_device(broker: EmbeddedBroker) -> None:
    """A TCP device's messages reach on_message one at a time, in order; the link's publishes reach the device."""
    received: list[bytes] = []
    in_handler = 0

    async def on_message(_topic: str, payload: bytes) -> None:
        nonlocal in_handler
        in_handler += 1
        assert in_handler == 1  # one at a time
        await asyncio.sleep(0)
        received.append(payload)
        in_handler -= 1

    link = LocalLink(endpoint(broker), ["t/in/#"], on_message, name="test")
    device = PahoDevice(broker.port, "dev", "dev", "dev-pw")
    try:
        await link.start()
        assert link.connected and link.connects == 1
        assert await device.connect()
        assert await device.subscribe("t/out/#") == [1]
        for i in range(30):
            await device.publish("t/in/x", str(i))
        await eventually(lambda: len(received) == 30)
        assert received == [str(i).encode() for i in range(30)]
        await link.publish("t/out/cmd", b"go")
        await eventually(lambda: device.messages == [("t/out/cmd", b"go")])
    finally:
        device.close()
        await link.stop()
    assert not link.connected


async def test_refusals_are_adapter_errors(broker: EmbeddedBroker) -> None:
    """Unknown account, a subscription or publish outside the account, a stopped broker: AdapterError."""

    async def ignore(_topic: str, _payload: bytes) -> None:
        return None

    with pytest.raises(AdapterError, match="cannot join"):
        await LocalLink(endpoint(broker, "nobody"), ["t/in/#"], ignore, name="x").start()
    with pytest.raises(AdapterError, match="may not subscribe"):
        await LocalLink(endpoint(broker), ["t/#"], ignore, name="x").start()
    assert broker.local is not None and broker.local.connection_count == 0  # refused joins leave nothing behind
    link = LocalLink(endpoint(broker), ["t/in/#"], ignore, name="x")
    await link.start()
    try:
        with pytest.raises(AdapterError, match="may not publish"):
            await link.publish("t/in/loop", b"x")
        await broker.stop()
        with pytest.raises(AdapterError, match="closed"):
            await link.publish("t/out/late", b"x")
    finally:
        await link.stop()


async def test_a_full_queue_drops_and_counts_and_intake_drains(broker: EmbeddedBroker) -> None:
    """Beyond `max_queued` waiting messages the link drops (and counts); stop_intake hands over what is queued."""
    release = asyncio.Event()
    received: list[bytes] = []

    async def slow(_topic: str, payload: bytes) -> None:
        await release.wait()
        received.append(payload)

    link = LocalLink(endpoint(broker), ["t/in/#"], slow, name="test", max_queued=3)
    watched: list[bytes] = []

    async def watch(_topic: str, payload: bytes) -> None:
        watched.append(payload)

    watcher = LocalLink(endpoint(broker), ["t/in/#"], watch, name="watcher")
    device = PahoDevice(broker.port, "dev", "dev", "dev-pw")
    try:
        await link.start()
        assert await device.connect()
        for i in range(6):  # one in the handler, three queued, two dropped
            await device.publish("t/in/x", str(i))
        await eventually(lambda: link.dropped == 2)
        release.set()
        await link.stop_intake(2.0)
        assert received == [b"0", b"1", b"2", b"3"]
        # Unsubscribed: not handed over. Barrier: a second link subscribed to the same topic gets "after" through
        # the same hub, queue and handler task.
        await watcher.start()
        await device.publish("t/in/x", "after")
        await eventually(lambda: watched == [b"after"])
        assert received == [b"0", b"1", b"2", b"3"]
    finally:
        device.close()
        await link.stop()
        await watcher.stop()
