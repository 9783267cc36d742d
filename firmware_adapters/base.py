"""The contract every firmware adapter implements.

An adapter translates one device protocol (native Outpost MQTT JSON, Zigbee2MQTT, Tasmota, OSDP, Wiegand, ...)
to and from Outpost's typed device messages (`firmware_adapters.outpost_mqtt.codec`). The site core gives it a
`DeviceSink` for what devices report and calls `send` for what devices must do. Adapters never import the core.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from firmware_adapters.outpost_mqtt.codec import Ack, Command, DeviceMessage

DeviceSink = Callable[[str, DeviceMessage], Awaitable[None]]
"""Receives (device id, message) for every validated message a device reports."""


class AdapterError(Exception):
    """A device protocol failed; raised by adapters instead of transport errors."""


@dataclass(frozen=True)
class MqttEndpoint:
    """Where and as whom an MQTT-based adapter connects to the site broker."""

    host: str
    port: int
    username: str
    password: str


@dataclass(frozen=True)
class AdapterContext:
    """What the site gives an adapter besides its devices."""

    mqtt: MqttEndpoint | None = None


class DeviceAdapter(abc.ABC):
    """One protocol instance serving a set of devices.

    Contract:
    - `__init__(devices, context)` gets {device id: that device's adapter config}; it does no I/O.
    - `start(sink)` opens the transport and returns once messages can flow; `stop()` closes it and is safe
      after a failed `start()`.
    - Every message a device reports is validated and passed to the sink as a typed message; anything
      malformed is counted in `bad_messages` and logged, never raised.
    - `send(device_id, message)` delivers a `Command` (or a receipt `Ack`) to a device; it raises
      `AdapterError` if the device cannot be reached now.
    """

    type_key: ClassVar[str]

    def __init__(self, devices: Mapping[str, Any], context: AdapterContext) -> None:
        self.devices = dict(devices)
        self.context = context
        self.bad_messages: Counter[str] = Counter()
        self.received = 0

    @classmethod
    def group_key(cls, config: Any) -> str:
        """Devices whose configs share a group key are served by one adapter instance (e.g. one RS-485 bus)."""
        return cls.type_key

    @classmethod
    def device_acl(cls, device_id: str, config: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Topic filters (publish, subscribe) for a device that connects to the broker itself, else None."""
        return None

    @classmethod
    def broker_acl(cls, devices: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Topic filters (publish, subscribe) the adapter's broker account needs; None if it uses no MQTT."""
        return None

    @abc.abstractmethod
    async def start(self, sink: DeviceSink) -> None:
        """Open the transport and begin delivering messages to `sink`."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close the transport."""

    @abc.abstractmethod
    async def send(self, device_id: str, message: Command | Ack) -> None:
        """Deliver a command (or an event receipt) to a device."""
