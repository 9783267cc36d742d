"""The one interface of an adapter's connection to the site broker: over TCP (`MqttLink`) or in-process (`LocalLink`).

`firmware_adapters.mqtt_link.open_link` picks the implementation; adapters see only `BrokerLink`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Sequence

from firmware_adapters.base import MqttEndpoint

MessageHandler = Callable[[str, bytes], Awaitable[None]]
"""Receives (topic, payload) of every message on the link's subscriptions, in order."""


class BrokerLink(abc.ABC):
    """An adapter's connection to the site broker under its own account.

    Contract:
    - messages on `subscriptions` go to `on_message` one at a time, in the order received, from the link's own
      task (while it is awaited, no further message is passed on; adapters whose handlers do I/O queue them,
      `firmware_adapters.dispatch.PerDeviceDispatcher`);
    - `on_connect` runs after each (re)connection, once subscribed (e.g. to re-announce state);
    - `start` returns once subscribed, or raises `AdapterError`; `stop_intake` unsubscribes and waits for what
      was already delivered while staying connected (handlers can still publish); `stop` disconnects;
    - `publish` raises `AdapterError` when not connected or when the broker refuses it.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        subscriptions: Sequence[str],
        on_message: MessageHandler,
        *,
        name: str,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_connect = on_connect
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.connects = 0

    @property
    def connected(self) -> bool:
        """True while connected and subscribed."""
        return self._connected.is_set()

    @abc.abstractmethod
    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; raise AdapterError if the broker cannot be reached or refuses the account."""

    @abc.abstractmethod
    async def stop_intake(self, drain_timeout_s: float) -> None:
        """Unsubscribe, then wait (at most `drain_timeout_s`) until delivered messages have been passed on."""

    @abc.abstractmethod
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message; raise AdapterError when not connected or the publish fails."""

    @abc.abstractmethod
    def _disconnect(self) -> None:
        """Leave the broker (the link's task is already stopped; `connected` is cleared after)."""

    async def stop(self, drain_timeout_s: float = 0.0) -> None:
        """Stop intake (draining first if asked), stop the link's task and disconnect."""
        if drain_timeout_s > 0:
            await self.stop_intake(drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._disconnect()
        self._connected.clear()
