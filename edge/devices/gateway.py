"""Builds the firmware adapters for the configured devices and routes messages to and from them."""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from typing import Any

from edge.broker.directory import BrokerDirectory, BrokerUser, hash_password
from edge.config import DeviceConfig
from firmware_adapters.base import AdapterContext, AdapterError, DeviceAdapter, DeviceSink, MqttEndpoint
from firmware_adapters.outpost_mqtt.codec import Ack, Command
from firmware_adapters.registry import ADAPTER_TYPES

log = logging.getLogger(__name__)


class UnknownDevice(LookupError):
    """No adapter serves that device id."""


class DeviceGateway:
    """Owns one adapter instance per (protocol, group) and knows which adapter serves which device."""

    def __init__(self, devices: list[DeviceConfig], directory: BrokerDirectory, mqtt_host: str, mqtt_port: int) -> None:
        groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        for device in devices:
            adapter_type = ADAPTER_TYPES[device.adapter.type]
            groups[(device.adapter.type, adapter_type.group_key(device.adapter))][device.id] = device.adapter
        if not groups:
            # The native adapter always runs, so devices added later and stray messages are still seen.
            groups[("outpost_mqtt", "outpost_mqtt")] = {}
        self.adapters: list[DeviceAdapter] = []
        self._by_device: dict[str, DeviceAdapter] = {}
        for (type_key, group), members in groups.items():
            adapter_type = ADAPTER_TYPES[type_key]
            endpoint = None
            acl = adapter_type.broker_acl(members)
            if acl is not None:
                username = f"adapter-{group}"[:64]
                password = secrets.token_urlsafe(24)
                directory.add(BrokerUser(username, hash_password(password), publish=acl[0], subscribe=acl[1]))
                endpoint = MqttEndpoint(mqtt_host, mqtt_port, username, password)
            adapter = adapter_type(members, AdapterContext(mqtt=endpoint))
            self.adapters.append(adapter)
            for device_id in members:
                self._by_device[device_id] = adapter

    async def start(self, sink: DeviceSink) -> None:
        """Start every adapter; deliver what devices report to `sink`."""
        for adapter in self.adapters:
            await adapter.start(sink)

    async def stop(self) -> None:
        """Stop intake from every adapter."""
        for adapter in reversed(self.adapters):
            await adapter.stop()

    async def send(self, device_id: str, message: Command | Ack) -> None:
        """Send a command or receipt to a device through its adapter."""
        adapter = self._by_device.get(device_id)
        if adapter is None:
            raise UnknownDevice(device_id)
        await adapter.send(device_id, message)

    def stats(self) -> dict[str, int]:
        """Messages received and rejected across adapters."""
        return {
            "received": sum(a.received for a in self.adapters),
            "bad_messages": sum(sum(a.bad_messages.values()) for a in self.adapters),
        }


__all__ = ["AdapterError", "DeviceGateway", "UnknownDevice"]
