"""Native Outpost MQTT JSON devices: one MQTT client of the site core serves them all."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink
from firmware_adapters.dispatch import PerDeviceDispatcher
from firmware_adapters.messages import Command, DeviceMessage, Feedback, PayloadError, SiteMessage
from firmware_adapters.mqtt_link import open_link
from firmware_adapters.outpost_mqtt.codec import DEVICE_PUBLISHES, DEVICE_SUBSCRIBES, Channel, decode, encode, topic_for
from firmware_adapters.outpost_mqtt.config import OutpostMqttConfig

log = logging.getLogger(__name__)


class OutpostMqttAdapter(DeviceAdapter[OutpostMqttConfig]):
    """Subscribes to `outpost/+/<channel>` for device channels and publishes commands and receipts.

    Messages are decoded as they arrive and handled per device (`PerDeviceDispatcher`): in order for each
    device, but a reader's badge does not wait while another device's telemetry or status is journaled.
    The connection is re-established with backoff if the broker goes away; `stop()` unsubscribes first and
    handles messages already delivered (a bounded drain, connection still up for their receipts) before
    disconnecting.
    """

    config_type = OutpostMqttConfig

    def __init__(self, devices: Mapping[str, OutpostMqttConfig], context: AdapterContext) -> None:
        super().__init__(devices, context)
        if context.mqtt is None:
            raise AdapterError("outpost_mqtt adapter needs a broker endpoint")
        self._sink: DeviceSink | None = None
        self._link = open_link(
            context.mqtt, [f"outpost/+/{channel}" for channel in DEVICE_PUBLISHES], self._dispatch, name="outpost_mqtt"
        )
        self._devices: PerDeviceDispatcher[DeviceMessage] = PerDeviceDispatcher(self._handle, name="outpost_mqtt")

    @classmethod
    def broker_acl(cls, devices: Mapping[str, OutpostMqttConfig]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Publish commands/receipts to any device; read every device channel."""
        return (
            ("outpost/+/command", "outpost/+/receipt"),
            tuple(f"outpost/+/{channel}" for channel in DEVICE_PUBLISHES),
        )

    @classmethod
    def device_acl(cls, device_id: str, config: OutpostMqttConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A native device publishes and subscribes only on its own channels."""
        return (
            tuple(topic_for(device_id, ch) for ch in DEVICE_PUBLISHES),
            tuple(topic_for(device_id, ch) for ch in DEVICE_SUBSCRIBES),
        )

    async def start(self, sink: DeviceSink, timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start delivering to `sink`."""
        self._sink = sink
        await self._link.start(timeout_s)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop intake: unsubscribe, handle what was already delivered, then disconnect."""
        deadline = time.monotonic() + drain_timeout_s
        await self._link.stop_intake(drain_timeout_s)
        # Still connected: the handlers of delivered messages can send their commands and receipts.
        await self._devices.drain(max(0.0, deadline - time.monotonic()))
        await self._link.stop()
        await self._devices.stop()

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Publish a command, or a receipt for an event, with QoS 1.

        `Feedback` has no channel in contract v1: native readers learn only that their event is stored.
        """
        if isinstance(message, Feedback):
            return
        channel: Channel = "command" if isinstance(message, Command) else "receipt"
        await self._link.publish(topic_for(device_id, channel), encode(message), qos=1)

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        self.received += 1
        try:
            parsed, message = decode(topic, payload)
        except PayloadError as err:
            self.reject(topic, err)
            return
        await self._devices.submit(parsed.device_id, message)

    async def _handle(self, device_id: str, message: DeviceMessage) -> None:
        assert self._sink is not None
        await self.deliver(self._sink, device_id, message)
