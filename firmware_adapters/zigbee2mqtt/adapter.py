"""Zigbee2MQTT transport: one MQTT client per Zigbee2MQTT base topic, reading states and publishing /set.

Zigbee locks have no timed unlock: for `unlock` with a duration the adapter sends UNLOCK, then LOCK itself when
the time is up (an owned task; on stop, a pending re-lock is sent at once rather than dropped). A command is
acknowledged when the lock reports the commanded `lock_state`, or acknowledged as failed after `ack_timeout_s`.

Messages are decoded and mapped as they arrive (in the order received, so acks resolve in order) and handled per
device (`PerDeviceDispatcher`): a lock's ack or a contact change does not wait while another device's telemetry or
status is journaled. The bridge's state changes every device's online status: one `Status` is queued per device.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink, OwnedTasks
from firmware_adapters.dispatch import PerDeviceDispatcher
from firmware_adapters.lock_commands import ACK_MARGIN_S, LockAction, LockCommandTracker, stop_lock_adapter
from firmware_adapters.messages import Ack, Command, ContactChange, DeviceMessage, PayloadError, SiteMessage, Status
from firmware_adapters.mqtt_link import open_link
from firmware_adapters.zigbee2mqtt.codec import (
    Z2mState,
    decode_availability,
    decode_state,
    door_open,
    encode_command,
    parse_topic,
    reported_locked,
    set_topic,
    telemetry_of,
)
from firmware_adapters.zigbee2mqtt.config import Zigbee2MqttConfig

log = logging.getLogger(__name__)


class Zigbee2MqttAdapter(DeviceAdapter[Zigbee2MqttConfig]):
    """Serves the configured devices of one Zigbee2MQTT instance; other devices of that bridge are ignored."""

    config_type = Zigbee2MqttConfig
    device_kinds: ClassVar[frozenset[str] | None] = frozenset({"lock", "contact", "sensor"})

    def __init__(self, devices: Mapping[str, Zigbee2MqttConfig], context: AdapterContext) -> None:
        super().__init__(devices, context)
        if context.mqtt is None:
            raise AdapterError("zigbee2mqtt adapter needs a broker endpoint")
        bases = {c.base_topic for c in self.configs.values()}
        if len(bases) > 1:
            raise AdapterError(f"zigbee2mqtt: one adapter serves one base topic, got {sorted(bases)}")
        self.base_topic = bases.pop() if bases else "zigbee2mqtt"
        self._by_name: dict[str, str] = {}
        for device_id, config in self.configs.items():
            if config.friendly_name in self._by_name:
                raise AdapterError(
                    f"zigbee2mqtt: {device_id} and {self._by_name[config.friendly_name]} "
                    f"share friendly_name {config.friendly_name!r}"
                )
            self._by_name[config.friendly_name] = device_id
        self._link = open_link(context.mqtt, [f"{self.base_topic}/#"], self._on_message, name=f"z2m-{self.base_topic}")
        self._sink: DeviceSink | None = None
        self._tasks = OwnedTasks()
        self._bridge_online: bool | None = None
        self._available: dict[str, bool] = {}
        self._online: dict[str, bool] = {}
        self._open: dict[str, bool] = {}
        self._locks = LockCommandTracker("zigbee2mqtt", self._tasks, self._publish_action, self._deliver_ack)
        self._devices: PerDeviceDispatcher[DeviceMessage] = PerDeviceDispatcher(
            self._handle, name=f"z2m-{self.base_topic}"
        )
        self.ignored = 0

    @classmethod
    def group_key(cls, config: Zigbee2MqttConfig) -> str:
        """One adapter per Zigbee2MQTT base topic."""
        return str(config.base_topic)

    @classmethod
    def broker_acl(cls, devices: Mapping[str, Zigbee2MqttConfig]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Read everything under the base topic; publish only to devices' /set topics."""
        base = next((c.base_topic for c in devices.values()), "zigbee2mqtt")
        return (f"{base}/+/set",), (f"{base}/#",)

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """Longer than the lock's ack_timeout_s: the adapter acks every command itself, as confirmed or failed."""
        config = self.configs.get(device_id)
        return None if config is None else config.ack_timeout_s + ACK_MARGIN_S

    async def start(self, sink: DeviceSink) -> None:
        """Connect and subscribe to the base topic."""
        self._sink = sink
        await self._link.start()

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Unsubscribe, handle what was already delivered, send pending re-locks now, cancel owned tasks, disconnect."""
        await stop_lock_adapter(self._locks, self._tasks, self._link, self._devices, drain_timeout_s)

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Send LOCK/UNLOCK to /set and schedule the re-lock; receipts and feedback mean nothing to Zigbee."""
        if device_id not in self.configs:
            raise AdapterError(f"zigbee2mqtt: no device {device_id!r}")
        if isinstance(message, Command):
            await self._locks.command(device_id, message, timeout_s=self.configs[device_id].ack_timeout_s, relock=True)

    async def _publish_action(self, device_id: str, action: LockAction, duration_s: float | None) -> None:
        topic = set_topic(self.base_topic, self.configs[device_id].friendly_name)
        await self._link.publish(topic, encode_command(action), qos=1)

    async def _deliver_ack(self, device_id: str, ack: Ack) -> None:
        if self._sink is not None:
            await self.deliver(self._sink, device_id, ack)

    async def _handle(self, device_id: str, message: DeviceMessage) -> None:
        assert self._sink is not None
        await self.deliver(self._sink, device_id, message)

    async def _on_message(self, topic: str, payload: bytes) -> None:
        """Decode and map one message in the link's task, then queue the results per device; never raises."""
        parsed = parse_topic(self.base_topic, topic)
        if parsed is None:
            return
        self.received += 1
        try:
            if parsed.kind == "bridge_state":
                self._bridge_online = decode_availability(payload) == "online"
                for each in self.configs:
                    await self._update_online(each)
                return
            device_id = self._by_name.get(parsed.friendly_name or "")
            if device_id is None:
                self.ignored += 1
                return
            if not payload.strip():
                return  # Zigbee2MQTT clears retained topics of removed/renamed devices with an empty payload
            if parsed.kind == "availability":
                self._available[device_id] = decode_availability(payload) == "online"
                await self._update_online(device_id)
                return
            state = decode_state(payload)
        except PayloadError as err:
            self.reject(topic, err)
            return
        await self._on_state(device_id, state)

    async def _on_state(self, device_id: str, state: Z2mState) -> None:
        locked = reported_locked(state)
        if locked is not None:
            self._locks.report(device_id, locked)  # now, in arrival order: acks skip the queue
        is_open = door_open(state)
        if is_open is not None and self._open.get(device_id) != is_open:
            self._open[device_id] = is_open
            await self._devices.submit(device_id, ContactChange(open=is_open))
        telemetry = telemetry_of(state)
        if telemetry is not None:
            await self._devices.submit(device_id, telemetry)

    async def _update_online(self, device_id: str) -> None:
        """A device is online while the bridge is and its availability (if Zigbee2MQTT reports it) says so."""
        available = self._available.get(device_id)
        if self._bridge_online is None and available is None:
            return
        online = self._bridge_online is not False and available is not False
        if self._online.get(device_id) == online:
            return
        self._online[device_id] = online
        await self._devices.submit(device_id, Status(state="online" if online else "offline"))
