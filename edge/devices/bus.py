"""The site core's own MQTT client: receives device messages, publishes commands."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt
import paho.mqtt.client as paho

from firmware_adapters.outpost_mqtt.codec import (
    DeviceMessage,
    PayloadError,
    Topic,
    decode,
    encode,
    topic_for,
)

log = logging.getLogger(__name__)

CORE_USERNAME = "outpost-core"
Handler = Callable[[Topic, DeviceMessage], Awaitable[None]]
_SUBSCRIPTIONS = ("outpost/+/status", "outpost/+/telemetry", "outpost/+/event", "outpost/+/ack")


class SiteBus:
    """Connects to the broker as the core account and dispatches validated messages.

    Bad payloads are counted and logged, never raised. The connection is re-established
    with backoff if the broker goes away.
    """

    def __init__(self, host: str, port: int, password: str) -> None:
        self._host = host
        self._port = port
        self._password = password
        self._handler: Handler | None = None
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.bad_messages: Counter[str] = Counter()
        self.received = 0
        self._last_message_at = 0.0

    async def start(self, handler: Handler, timeout_s: float = 10.0) -> None:
        """Start the client task, delivering to `handler`, and wait until it is subscribed."""
        self._handler = handler
        self._task = asyncio.create_task(self._run(), name="site-bus")
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop intake: unsubscribe, handle what was already delivered, then disconnect."""
        if self._client is not None and self._connected.is_set():
            try:
                await self._client.unsubscribe(list(_SUBSCRIPTIONS))
                deadline = time.monotonic() + drain_timeout_s
                # Wait for a quiet period: messages already delivered to us are handled before we go.
                while time.monotonic() < deadline and time.monotonic() - self._last_message_at < 0.3:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            except aiomqtt.MqttError as err:
                log.warning("site bus: could not drain before stopping (%s)", err)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def publish(
        self, device_id: str, channel: str, message: DeviceMessage, *, retain: bool = False
    ) -> None:
        """Publish a message to a device channel with QoS 1."""
        if self._client is None or not self._connected.is_set():
            raise ConnectionError("site bus is not connected")
        await self._client.publish(topic_for(device_id, channel), encode(message), qos=1, retain=retain)  # type: ignore[arg-type]

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    identifier=CORE_USERNAME,
                    username=CORE_USERNAME,
                    password=self._password,
                    protocol=paho.MQTTv311,
                    clean_session=True,
                ) as client:
                    self._client = client
                    for topic in _SUBSCRIPTIONS:
                        await client.subscribe(topic, qos=1)
                    self._connected.set()
                    delay = 0.5
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError as err:
                self._connected.clear()
                self._client = None
                log.warning("site bus disconnected (%s); reconnecting in %.1fs", err, delay)
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
        assert self._handler is not None
        try:
            await self._handler(parsed, message)
        except Exception:  # supervision point: one bad handler run must not stop intake
            self.bad_messages["handler-error"] += 1
            log.exception("handling %s failed", topic)
