"""Builds the firmware adapters for the configured devices and routes messages to and from them."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from edge.broker.directory import BrokerDirectory, BrokerUser
from edge.config import DeviceConfig
from firmware_adapters.base import (
    AdapterContext,
    AdapterError,
    DeviceAdapter,
    DeviceSink,
    LocalBroker,
    MqttEndpoint,
)
from firmware_adapters.messages import SiteMessage
from firmware_adapters.registry import ADAPTER_TYPES

log = logging.getLogger(__name__)


class UnknownDevice(LookupError):
    """No adapter serves that device id."""


def adapter_username(type_key: str, group: str) -> str:
    """The broker account of one adapter instance, e.g. adapter-outpost_mqtt, adapter-osdp-_dev_ttyUSB0."""
    name = f"adapter-{type_key}" if group == type_key else f"adapter-{type_key}-{group}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]


def _groups(devices: list[DeviceConfig]) -> dict[tuple[str, str], dict[str, Any]]:
    """The configured devices' adapter configs by (protocol, group): one adapter instance serves each group."""
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for device in devices:
        adapter_type = ADAPTER_TYPES[device.adapter.type]
        groups[(device.adapter.type, adapter_type.group_key(device.adapter))][device.id] = device.adapter
    if not groups:
        # The native adapter always runs, so devices added later and stray messages are still seen.
        groups[("outpost_mqtt", "outpost_mqtt")] = {}
    return dict(groups)


class DeviceGateway:
    """Owns one adapter instance per (protocol, group) and knows which adapter serves which device.

    An adapter that fails to start (a reader bus unplugged, a GPIO chip missing) is logged and left out: the
    rest of the site runs, sends to its devices raise AdapterError, and `stats()` counts it.
    """

    def __init__(
        self,
        devices: list[DeviceConfig],
        directory: BrokerDirectory,
        mqtt_host: str,
        mqtt_port: int,
        *,
        accounts: Mapping[str, tuple[str, str]],
        local: LocalBroker | None = None,
    ) -> None:
        """Use `create`: it hashes the adapter accounts' passwords off the event loop.

        `accounts`: adapter username -> (password, hash) for every adapter that needs a broker account.
        `local`: the broker runs in this process; MQTT-based adapters join it directly (same account, ACL).
        """
        self.adapters: list[DeviceAdapter[Any]] = []
        self.failed: dict[str, str] = {}
        self._labels: dict[int, str] = {}
        self._by_device: dict[str, DeviceAdapter[Any]] = {}
        for (type_key, group), members in _groups(devices).items():
            adapter_type = ADAPTER_TYPES[type_key]
            endpoint = None
            acl = adapter_type.broker_acl(members)
            if acl is not None:
                username = adapter_username(type_key, group)
                password, password_hash = accounts[username]
                directory.add(BrokerUser(username, password_hash, publish=acl[0], subscribe=acl[1]))
                endpoint = MqttEndpoint(mqtt_host, mqtt_port, username, password, local=local)
            adapter = adapter_type(members, AdapterContext(mqtt=endpoint))
            self.adapters.append(adapter)
            self._labels[id(adapter)] = f"{type_key}:{group}"
            for device_id in members:
                self._by_device[device_id] = adapter

    @classmethod
    async def create(
        cls,
        devices: list[DeviceConfig],
        directory: BrokerDirectory,
        mqtt_host: str,
        mqtt_port: int,
        *,
        local: LocalBroker | None = None,
    ) -> DeviceGateway:
        """Build the gateway, adding one fresh broker account per MQTT-based adapter to `directory`.

        The passwords are hashed in a worker thread: argon2 takes ~0.2 s each (seconds on a loaded box), and
        the broker is already serving on this loop. The accounts are added on the loop, where the
        directory's listeners run.
        """
        passwords = {
            adapter_username(type_key, group): secrets.token_urlsafe(24)
            for (type_key, group), members in _groups(devices).items()
            if ADAPTER_TYPES[type_key].broker_acl(members) is not None
        }

        def hash_all() -> dict[str, tuple[str, str]]:
            # In the format the site's broker checks (an external Mosquitto cannot check argon2).
            return {name: (password, directory.hash_password(password)) for name, password in passwords.items()}

        accounts = await asyncio.to_thread(hash_all)
        return cls(devices, directory, mqtt_host, mqtt_port, accounts=accounts, local=local)

    async def start(self, sink: DeviceSink) -> None:
        """Start every adapter; deliver what devices report to `sink`."""
        for adapter in self.adapters:
            label = self._labels[id(adapter)]
            try:
                await adapter.start(sink)
            except AdapterError as err:
                self.failed[label] = str(err)
                log.error("device adapter %s did not start; its devices are unavailable: %s", label, err)

    async def stop(self) -> None:
        """Stop intake from every adapter."""
        for adapter in reversed(self.adapters):
            try:
                await adapter.stop()
            except Exception:  # supervision point: one adapter failing to stop must not keep the others running
                log.exception("device adapter %s did not stop cleanly", self._labels[id(adapter)])

    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Send a command, receipt or reader feedback to a device through its adapter."""
        adapter = self._by_device.get(device_id)
        if adapter is None:
            raise UnknownDevice(device_id)
        label = self._labels[id(adapter)]
        if label in self.failed:
            raise AdapterError(f"{device_id}: adapter {label} is not running ({self.failed[label]})")
        await adapter.send(device_id, message)

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """The ack wait the device's protocol needs (None: the site's access.command_ack_timeout_s)."""
        adapter = self._by_device.get(device_id)
        return None if adapter is None else adapter.command_ack_timeout_s(device_id)

    def stats(self) -> dict[str, int]:
        """Messages received and rejected across adapters, and adapters that failed to start."""
        return {
            "received": sum(a.received for a in self.adapters),
            "bad_messages": sum(sum(a.bad_messages.values()) for a in self.adapters),
            "adapters_failed": len(self.failed),
        }


__all__ = ["AdapterError", "DeviceGateway", "UnknownDevice", "adapter_username"]
