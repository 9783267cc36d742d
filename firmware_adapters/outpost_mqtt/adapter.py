"""Native Outpost MQTT JSON devices: one MQTT client of the site core serves them all."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import aiomqtt
import paho.mqtt.client as paho

from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink
from firmware_adapters.outpost_mqtt.codec import (
    DEVICE_PUBLISHES,
    DEVICE_SUBSCRIBES,
    Ack,
    Command,
    PayloadError,
    decode,
    encode,
    topic_for,
)

log = logging.getLogger(__name__)


class OutpostMqttAdapter(DeviceAdapter):
    """Subscribes to `outpost/+/<channel>` for device channels and publishes commands and receipts.

    The connection is re-established with backoff if the broker goes away; `stop()` unsubscribes first
    and handles messages already delivered (a bounded drain) before disconnecting.
    """

    type_key: ClassVar[str] = "outpost_mqtt"

    def __init__(self, devices: Mapping[str, Any], context: AdapterContext) -> None:
        super().__init__(devices, context)
        if context.mqtt is None:
            raise AdapterError("outpost_mqtt adapter needs a broker endpoint")
        self._endpoint = context.mqtt
        self._subscriptions = [f"outpost/+/{channel}" for channel in DEVICE_PUBLISHES]
        self._sink: DeviceSink | None = None
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._last_message_at = 0.0

    @classmethod
    def broker_acl(cls, devices: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Publish commands/receipts to any device; read every device channel."""
        return (
            ("outpost/+/command", "outpost/+/receipt"),
            tuple(f"outpost/+/{channel}" for channel in DEVICE_PUBLISHES),
        )

    @classmethod
    def device_acl(cls, device_id: str, config: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A native device publishes and subscribes only on its own channels."""
        return (
            tuple(topic_for(device_id, ch) for ch in DEVICE_PUBLISHES),
            tuple(topic_for(device_id, ch) for ch in DEVICE_SUBSCRIBES),
        )

    async def start(self, sink: DeviceSink, timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start delivering to `sink`."""
        self._sink = sink
        self._task = asyncio.create_task(self._run(), name="outpost-mqtt-adapter")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError as err:
            await self.stop()
            raise AdapterError(f"cannot connect to the broker at {self._endpoint.host}:{self._endpoint.port}") from err

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop intake: unsubscribe, handle what was already delivered, then disconnect."""
        if self._client is not None and self._connected.is_set():
            try:
                await self._client.unsubscribe(self._subscriptions)
                deadline = time.monotonic() + drain_timeout_s
                # Wait for a quiet period: messages already delivered to us are handled before we go.
                while time.monotonic() < deadline and time.monotonic() - self._last_message_at < 0.3:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            except aiomqtt.MqttError as err:
                log.warning("outpost_mqtt: could not drain before stopping (%s)", err)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def send(self, device_id: str, message: Command | Ack) -> None:
        """Publish a command, or a receipt for an event, with QoS 1."""
        if self._client is None or not self._connected.is_set():
            raise AdapterError("not connected to the site broker")
        channel = "command" if isinstance(message, Command) else "receipt"
        try:
            await self._client.publish(topic_for(device_id, channel), encode(message), qos=1)
        except aiomqtt.MqttError as err:
            raise AdapterError(f"publish to {device_id} failed: {err}") from err

    async def _run(self) -> None:
        delay = 0.5
        endpoint = self._endpoint
        while True:
            try:
                async with aiomqtt.Client(
                    endpoint.host, endpoint.port, identifier=endpoint.username, username=endpoint.username,
                    password=endpoint.password, protocol=paho.MQTTv311, clean_session=True,
                ) as client:
                    self._client = client
                    for topic in self._subscriptions:
                        await client.subscribe(topic, qos=1)
                    self._connected.set()
                    delay = 0.5
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError as err:
                self._connected.clear()
                self._client = None
                log.warning("outpost_mqtt: disconnected (%s); reconnecting in %.1fs", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        self.received += 1
        self._last_message_at = time.monotonic()
        try:
            parsed, message = decode(topic, payload)
        except PayloadError as err:
            self.bad_messages[topic] += 1
            log.warning("bad device message (%d so far): %s", sum(self.bad_messages.values()), err)
            return
        assert self._sink is not None
        try:
            await self._sink(parsed.device_id, message)
        except Exception:  # supervision point: one failing handler run must not stop intake
            self.bad_messages["handler-error"] += 1
            log.exception("handling %s failed", topic)
