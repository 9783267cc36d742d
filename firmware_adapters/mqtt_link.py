"""One adapter's MQTT connection to the site broker: connect, subscribe, reconnect with backoff, publish.

Thin transport shared by the MQTT-based adapters (native, Zigbee2MQTT, Tasmota/Shelly); all mapping lives in their
codecs. `open_link` picks this or, when the broker runs in this process, `LocalLink` (both are a `BrokerLink`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiomqtt

from firmware_adapters.base import AdapterError, MqttEndpoint
from firmware_adapters.broker_link import BrokerLink, MessageHandler
from firmware_adapters.local_link import LocalLink

log = logging.getLogger(__name__)


class MqttLink(BrokerLink):
    """A supervised MQTT client over TCP that reconnects with backoff (`on_message` runs in its task)."""

    _client: aiomqtt.Client | None = None
    _last_message_at = 0.0

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; raise AdapterError if the broker cannot be reached in time."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-link-{self._name}")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError as err:
            await self.stop()
            raise AdapterError(
                f"{self._name}: cannot connect to the broker at {self._endpoint.host}:{self._endpoint.port}"
            ) from err

    async def stop_intake(self, drain_timeout_s: float) -> None:
        """Unsubscribe, then wait (at most `drain_timeout_s`) until messages already delivered have been passed
        to `on_message`; the connection stays up, so their handlers can still publish (receipts, commands)."""
        if self._client is None or not self._connected.is_set():
            return
        try:
            await self._client.unsubscribe(self._subscriptions)
            deadline = time.monotonic() + drain_timeout_s
            # Wait for a quiet period: messages already delivered to us are handled before we go.
            while time.monotonic() < deadline and time.monotonic() - self._last_message_at < 0.3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        except aiomqtt.MqttError as err:
            log.warning("%s: could not drain before stopping (%s)", self._name, err)

    def _disconnect(self) -> None:
        # The client closed with the cancelled task's `async with`.
        self._client = None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish one message; raise AdapterError when not connected or the publish fails."""
        client = self._client
        if client is None or not self._connected.is_set():
            raise AdapterError(f"{self._name}: not connected to the site broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as err:
            raise AdapterError(f"{self._name}: publish to {topic} failed: {err}") from err

    async def _run(self) -> None:
        delay = 0.5
        endpoint = self._endpoint
        while True:
            try:
                async with aiomqtt.Client(
                    endpoint.host,
                    endpoint.port,
                    identifier=endpoint.username,
                    username=endpoint.username,
                    password=endpoint.password,
                    protocol=aiomqtt.ProtocolVersion.V311,
                    clean_session=True,
                    will=None
                    if endpoint.will is None
                    else aiomqtt.Will(endpoint.will[0], endpoint.will[1], qos=1, retain=True),
                    # Commands are tiny and latency-critical: do not let Nagle hold them back.
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                ) as client:
                    _write_promptly(client)
                    self._client = client
                    for topic in self._subscriptions:
                        await client.subscribe(topic, qos=1)
                    self.connects += 1
                    self._connected.set()
                    delay = 0.5
                    if self._on_connect is not None:
                        await self._on_connect()
                    async for message in client.messages:
                        self._last_message_at = time.monotonic()
                        payload = message.payload
                        data = bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload).encode()
                        await self._on_message(str(message.topic), data)
            except aiomqtt.MqttError as err:
                self._connected.clear()
                self._client = None
                log.warning("%s: disconnected (%s); reconnecting in %.1fs", self._name, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


def open_link(
    endpoint: MqttEndpoint,
    subscriptions: Sequence[str],
    on_message: MessageHandler,
    *,
    name: str,
    on_connect: Callable[[], Awaitable[None]] | None = None,
) -> BrokerLink:
    """The adapter's broker connection: in-process when the broker runs here (`endpoint.local`), else TCP."""
    if endpoint.local is not None:
        return LocalLink(endpoint, subscriptions, on_message, name=name, on_connect=on_connect)
    return MqttLink(endpoint, subscriptions, on_message, name=name, on_connect=on_connect)


def _write_promptly(client: aiomqtt.Client) -> None:
    """Send each packet when it is queued instead of on the next event-loop iteration.

    With an external event loop, paho only asks aiomqtt to watch the socket for writability, so a publish (and
    the PUBACK of every QoS 1 message received) goes out after the rest of the current iteration's callbacks and
    one more poll: 0.2 ms p50 / 0.8 ms p99 before an unlock command left the site core under device load, plus an
    add_writer/remove_writer pair of syscalls per packet. paho without an external loop writes at once unless a
    paho callback is running; this does the same, and falls back to aiomqtt's writer callback whenever the
    socket cannot take everything now. Reaches into aiomqtt's paho client (`_client`); with other aiomqtt or
    paho versions that lack these attributes it leaves the deferred writes in place.
    """
    paho = getattr(client, "_client", None)
    register = getattr(paho, "on_socket_register_write", None)
    in_callback = getattr(paho, "_in_callback_mutex", None)
    if paho is None or register is None or in_callback is None or not hasattr(paho, "loop_write"):
        return

    def write_now(mqttc: Any, userdata: Any, sock: Any) -> None:
        # paho marked the socket "registered for write" before calling us: either write everything now (its
        # unregister then clears that mark) or really register with aiomqtt, so a partial write completes.
        if not in_callback.acquire(blocking=False):  # inside a paho callback: paho itself would defer too
            register(mqttc, userdata, sock)
            return
        in_callback.release()
        try:
            mqttc.loop_write()
        except Exception:  # supervision point: never fail the publish here; aiomqtt's writer retries and reports
            log.debug("immediate MQTT write failed; leaving it to the event loop", exc_info=True)
            register(mqttc, userdata, sock)
            return
        if mqttc.want_write():
            register(mqttc, userdata, sock)

    paho.on_socket_register_write = write_now
