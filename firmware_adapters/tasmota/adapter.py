"""Tasmota / Shelly Gen1 transport: one MQTT client of the site for every relay; the relays connect themselves.

Unlock with a duration on Tasmota with `pulse`: PulseTime<n> then POWER<n> ON, and the relay ends the pulse on
its own (the door re-locks even if the site is gone). Otherwise the adapter switches the relay back after the
duration (an owned task; sent at once on stop). A command is acknowledged when the relay reports the commanded
state (`stat/.../POWER<n>` or `RESULT`), or as failed after `ack_timeout_s`.

Messages are decoded and mapped as they arrive (in the order received, so acks resolve in order) and handled per
device (`PerDeviceDispatcher`): one door's relay report does not wait while another's telemetry is journaled. A
report of a multi-relay device (its LWT, a STATE) is queued once for each door it concerns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

from firmware_adapters.base import AdapterContext, AdapterError
from firmware_adapters.lock_commands import BridgedLockAdapter, LockAction
from firmware_adapters.messages import Command, PayloadError, SiteMessage, Status, Telemetry
from firmware_adapters.tasmota.codec import (
    Flavour,
    command_filters,
    decode,
    device_acl,
    locked_from_relay,
    parse_topic,
    relay_on_for,
    subscriptions,
    switch_messages,
)
from firmware_adapters.tasmota.config import TasmotaRelayConfig

log = logging.getLogger(__name__)


def _devices_topics(devices: Mapping[str, TasmotaRelayConfig]) -> list[tuple[Flavour, str]]:
    return sorted({(c.flavour, c.topic) for c in devices.values()})


class TasmotaRelayAdapter(BridgedLockAdapter[TasmotaRelayConfig]):
    """Door strikes on Tasmota or Shelly Gen1 relays (several doors may share one multi-relay device)."""

    config_type = TasmotaRelayConfig
    device_kinds: ClassVar[frozenset[str] | None] = frozenset({"lock"})

    def __init__(self, devices: Mapping[str, TasmotaRelayConfig], context: AdapterContext) -> None:
        topics = [t for flavour, topic in _devices_topics(devices) for t in subscriptions(flavour, topic)]
        super().__init__(devices, context, subscriptions=topics, name="tasmota")
        self._by_relay: dict[tuple[Flavour, str, int], str] = {}
        self._by_topic: dict[tuple[Flavour, str], list[str]] = {}
        for device_id, config in self.configs.items():
            key = (config.flavour, config.topic, config.relay)
            if key in self._by_relay:
                raise AdapterError(f"tasmota: {device_id} and {self._by_relay[key]} use the same relay")
            self._by_relay[key] = device_id
            self._by_topic.setdefault((config.flavour, config.topic), []).append(device_id)
        self._locked: dict[str, bool] = {}

    @classmethod
    def device_acl(cls, device_id: str, config: TasmotaRelayConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The relay publishes its stat/tele (Shelly: shellies/<id>/...) and reads its cmnd topics."""
        return device_acl(config.flavour, config.topic)

    @classmethod
    def broker_acl(cls, devices: Mapping[str, TasmotaRelayConfig]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Command the configured relays; read their reports."""
        pairs = _devices_topics(devices)
        return (
            tuple(f for flavour, topic in pairs for f in command_filters(flavour, topic)),
            tuple(f for flavour, topic in pairs for f in subscriptions(flavour, topic)),
        )

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Switch the relay for a lock/unlock command; receipts and feedback mean nothing to a relay."""
        config = self.configs.get(device_id)
        if config is None:
            raise AdapterError(f"tasmota: no device {device_id!r}")
        if not isinstance(message, Command):
            return
        await self._locks.command(device_id, message, timeout_s=config.ack_timeout_s, relock=not config.pulse)

    async def _publish_action(self, device_id: str, action: LockAction, duration_s: float | None) -> None:
        config = self.configs[device_id]
        on = relay_on_for(action, config.active_high)
        # PulseTime goes with every pulsed unlock: 0 (no pulse) for an unlock that lasts until a lock command.
        pulse_s = (duration_s or 0.0) if config.pulse and action == "unlock" else None
        for topic, payload in switch_messages(config.flavour, config.topic, config.relay, on, pulse_s=pulse_s):
            await self._link.publish(topic, payload, qos=1)

    async def _on_message(self, topic: str, payload: bytes) -> None:
        """Decode and map one message in the link's task, then queue the results per device; never raises."""
        parsed = parse_topic(topic)
        if parsed is None:
            self.ignored += 1
            return
        devices = self._by_topic.get((parsed.flavour, parsed.device_topic), [])
        if not devices:
            self.ignored += 1
            return
        self.received += 1
        try:
            report = decode(parsed, payload)
        except PayloadError as err:
            self.reject(topic, err)
            return
        if report.online is not None:
            for device_id in devices:
                await self._devices.submit(device_id, Status(state="online" if report.online else "offline"))
        for device_id in devices:
            config = self.configs[device_id]
            values = dict(report.readings)
            on = report.relays.get(config.relay)
            if on is not None:
                locked = locked_from_relay(on, config.active_high)
                self._locks.report(device_id, locked)  # now, in arrival order: acks skip the queue
                # RESULT and POWER repeat each change; periodic STATE reports are passed on whole.
                if self._locked.get(device_id) != locked or parsed.kind == "state":
                    self._locked[device_id] = locked
                    values["locked"] = 1.0 if locked else 0.0
            if values:
                await self._devices.submit(device_id, Telemetry(values=values))
