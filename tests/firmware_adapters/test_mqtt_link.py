"""MqttLink: packets leave when queued (not an event-loop iteration later); intake stops before disconnect."""

from __future__ import annotations

from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.broker.passwords import mosquitto_hash
from edge.broker.server import EmbeddedBroker
from firmware_adapters.base import MqttEndpoint
from firmware_adapters.mqtt_link import MqttLink
from tests.paho_device import PahoDevice
from tests.polling import eventually


async def test_a_publish_is_written_before_the_call_returns_and_intake_drains() -> None:
    directory = BrokerDirectory()
    directory.add(BrokerUser("core", mosquitto_hash("core-pw"), publish=("t/#",), subscribe=("t/#",)))
    directory.add(BrokerUser("watch", mosquitto_hash("watch-pw"), publish=(), subscribe=("t/#",)))
    broker = EmbeddedBroker(directory, host="127.0.0.1", port=0)
    await broker.start()
    received: list[bytes] = []

    async def on_message(topic: str, payload: bytes) -> None:
        received.append(payload)

    link = MqttLink(MqttEndpoint("127.0.0.1", broker.port, "core", "core-pw"), ["t/#"], on_message, name="test")
    watcher = PahoDevice(broker.port, "watch", "watch", "watch-pw")
    try:
        await link.start()
        paho = link._client._client  # noqa: SLF001 - the installed aiomqtt's paho client, which the link tunes
        info = paho.publish("t/now", b"1", qos=0)
        # Written inside publish(): nothing waits for the loop's writer callback (aiomqtt/paho versions that
        # lack the hooks MqttLink uses would fail here, not silently add latency).
        assert info.is_published() and not paho.want_write()
        await link.publish("t/qos1", b"2", qos=1)  # PUBACK received: the writer fallback is consistent
        await eventually(lambda: len(received) == 2)
        await link.stop_intake(2.0)
        assert link.connected  # intake stopped, still connected for the handlers' receipts
        # Barrier: another subscriber to t/# gets "t/after"; the link, unsubscribed, must not have by then.
        assert await watcher.connect()
        assert await watcher.subscribe("t/#") == [1]
        await link.publish("t/after", b"3", qos=1)
        await eventually(lambda: watcher.messages == [("t/after", b"3")])
        assert received == [b"1", b"2"]  # unsubscribed
    finally:
        watcher.close()
        await link.stop()
        await broker.stop()
