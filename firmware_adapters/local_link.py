"""A `BrokerLink` over an in-process connection to the embedded site broker (no socket, no MQTT codec).

The broker hands each routed message over synchronously; the link queues it and passes it to `on_message` one at
a time, in order, from its own task, as `MqttLink` does. The queue is bounded: a site core that falls that far
behind drops (and counts) messages instead of growing without limit; native devices keep every event until its
receipt, so they send it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from firmware_adapters.base import AdapterError, LocalBrokerConnection, MqttEndpoint
from firmware_adapters.broker_link import BrokerLink, MessageHandler

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000


class LocalLink(BrokerLink):
    """An adapter's in-process broker connection."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        subscriptions: Sequence[str],
        on_message: MessageHandler,
        *,
        name: str,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        if endpoint.local is None:
            raise ValueError("LocalLink needs an endpoint with a local broker")
        super().__init__(endpoint, subscriptions, on_message, name=name, on_connect=on_connect)
        self._max_queued = max_queued
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._connection: LocalBrokerConnection | None = None
        self._handling = False
        self.dropped = 0

    async def start(self, timeout_s: float = 10.0) -> None:
        """Join the broker and subscribe; raise AdapterError if it is not running or refuses the account."""
        assert self._endpoint.local is not None
        try:
            connection = self._endpoint.local.connect(self._endpoint.username, self._enqueue)
        except (ConnectionError, PermissionError) as err:
            raise AdapterError(f"{self._name}: cannot join the site broker: {err}") from err
        try:
            connection.subscribe(self._subscriptions)
        except PermissionError as err:
            connection.close()
            raise AdapterError(f"{self._name}: {err}") from err
        self._connection = connection
        self._connected.set()
        self._task = asyncio.create_task(self._pump(), name=f"local-link-{self._name}")
        self.connects += 1
        if self._on_connect is not None:
            await self._on_connect()

    def _enqueue(self, topic: str, payload: bytes) -> None:
        if self._queue.qsize() >= self._max_queued:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s: %d messages waiting; dropped %d so far", self._name, self._queue.qsize(), self.dropped)
            return
        self._queue.put_nowait((topic, payload))

    async def _pump(self) -> None:
        while True:
            topic, payload = await self._queue.get()
            self._handling = True
            try:
                await self._on_message(topic, payload)
            except Exception:  # supervision point: one failing message must not stop intake
                log.exception("%s: handling a message on %s failed", self._name, topic)
            finally:
                self._handling = False

    async def stop_intake(self, drain_timeout_s: float) -> None:
        """Unsubscribe, then wait (at most `drain_timeout_s`) until queued messages have been passed on."""
        if self._connection is None:
            return
        self._connection.unsubscribe(self._subscriptions)
        deadline = time.monotonic() + drain_timeout_s
        while (not self._queue.empty() or self._handling) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message; raise AdapterError when not joined or the broker refuses it."""
        connection = self._connection
        if connection is None:
            raise AdapterError(f"{self._name}: not connected to the site broker")
        try:
            await connection.publish(topic, payload, qos, retain)
        except (ConnectionError, PermissionError, ValueError) as err:
            raise AdapterError(f"{self._name}: publish to {topic} failed: {err}") from err
