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

from firmware_adapters.base import AdapterContext, AdapterError
from firmware_adapters.lock_commands import BridgedLockAdapter, LockAction
from firmware_adapters.messages import Command, ContactChange, PayloadError, SiteMessage, Status
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


class Zigbee2MqttAdapter(BridgedLockAdapter[Zigbee2MqttConfig]):
    """Serves the configured devices of one Zigbee2MQTT instance; other devices of that bridge are ignored."""

    config_type = Zigbee2MqttConfig
    device_kinds: ClassVar[frozenset[str] | None] = frozenset({"lock", "contact", "sensor"})

    def __init__(self, devices: Mapping[str, Zigbee2MqttConfig], context: AdapterContext) -> None:
        bases = {c.base_topic for c in devices.values()}
        if len(bases) > 1:
            raise AdapterError(f"zigbee2mqtt: one adapter serves one base topic, got {sorted(bases)}")
        self.base_topic = bases.pop() if bases else "zigbee2mqtt"
        super().__init__(devices, context, subscriptions=[f"{self.base_topic}/#"], name=f"z2m-{self.base_topic}")
        self._by_name: dict[str, str] = {}
        for device_id, config in self.configs.items():
            if config.friendly_name in self._by_name:
                raise AdapterError(
                    f"zigbee2mqtt: {device_id} and {self._by_name[config.friendly_name]} "
                    f"share friendly_name {config.friendly_name!r}"
                )
            self._by_name[config.friendly_name] = device_id
        self._bridge_online: bool | None = None
        self._available: dict[str, bool] = {}
        self._online: dict[str, bool] = {}
        self._open: dict[str, bool] = {}

    @classmethod
    def group_key(cls, config: Zigbee2MqttConfig) -> str:
        """One adapter per Zigbee2MQTT base topic."""
        return str(config.base_topic)

    @classmethod
    def broker_acl(cls, devices: Mapping[str, Zigbee2MqttConfig]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Read everything under the base topic; publish only to devices' /set topics."""
        base = next((c.base_topic for c in devices.values()), "zigbee2mqtt")
        return (f"{base}/+/set",), (f"{base}/#",)

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Send LOCK/UNLOCK to /set and schedule the re-lock; receipts and feedback mean nothing to Zigbee."""
        if device_id not in self.configs:
            raise AdapterError(f"zigbee2mqtt: no device {device_id!r}")
        if isinstance(message, Command):
            await self._locks.command(device_id, message, timeout_s=self.configs[device_id].ack_timeout_s, relock=True)

    async def _publish_action(self, device_id: str, action: LockAction, duration_s: float | None) -> None:
        topic = set_topic(self.base_topic, self.configs[device_id].friendly_name)
        await self._link.publish(topic, encode_command(action), qos=1)

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
