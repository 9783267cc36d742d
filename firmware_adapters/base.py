"""The contract every firmware adapter implements.

An adapter translates one device protocol (native Outpost MQTT JSON, Zigbee2MQTT, Tasmota, OSDP, Wiegand, ...)
to and from Outpost's typed device messages (`firmware_adapters.messages`). The site core gives it a
`DeviceSink` for what devices report and calls `send` for what devices must do. Adapters never import the core.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from firmware_adapters.messages import DeviceMessage, SiteMessage

log = logging.getLogger(__name__)

DeviceSink = Callable[[str, DeviceMessage], Awaitable[None]]
"""Receives (device id, message) for every validated message a device reports."""


class AdapterError(Exception):
    """A device protocol failed; raised by adapters instead of transport errors."""


class LocalBrokerConnection(Protocol):
    """An in-process connection to the site broker (implemented by the embedded broker, edge.broker.local)."""

    def subscribe(self, filters: Sequence[str]) -> None:
        """Subscribe; PermissionError if the account may not."""

    def unsubscribe(self, filters: Iterable[str]) -> None:
        """Stop receiving on `filters`."""

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish; PermissionError if the account may not, ConnectionError if the broker is gone."""

    def close(self) -> None:
        """Leave the broker."""


class LocalBroker(Protocol):
    """A site broker running in this process, which adapters may join without a socket."""

    def connect(self, username: str, on_message: Callable[[str, bytes], None]) -> LocalBrokerConnection:
        """Open a connection as `username`; `on_message(topic, payload)` is called for each message routed to it."""


@dataclass(frozen=True)
class MqttEndpoint:
    """Where and as whom an MQTT-based adapter connects to the site broker.

    `local` is set when the broker runs in this process (the embedded broker): adapters then join it directly,
    under the same account and ACL, instead of over TCP (`firmware_adapters.mqtt_link.open_link`).
    """

    host: str
    port: int
    username: str
    password: str
    local: LocalBroker | None = field(default=None, compare=False, repr=False)
    # Last will over TCP (topic, payload; QoS 1, retained). In-process connections end with the broker itself.
    will: tuple[str, bytes] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AdapterContext:
    """What the site gives an adapter besides its devices."""

    mqtt: MqttEndpoint | None = None


class DeviceAdapterConfig(BaseModel):
    """Base of every adapter's per-device config; unknown keys are errors.

    Each subclass declares `type: Literal["<protocol>"]` with that value as its default: the one spelling of the
    protocol's key, used by the registry's discriminated union and, through `config_type`, as the adapter's
    `type_key`.
    """

    model_config = ConfigDict(extra="forbid")

    type: str


ConfigT = TypeVar("ConfigT", bound=DeviceAdapterConfig)


def type_key_of(config_type: type[DeviceAdapterConfig]) -> str:
    """Return the protocol key a config model declares as its `type` default."""
    key = config_type.model_fields["type"].default
    if not isinstance(key, str):
        raise TypeError(f"{config_type.__name__}.type needs its protocol key as default")
    return key


class DeviceAdapter(abc.ABC, Generic[ConfigT]):
    """One protocol instance serving a set of devices.

    Contract:
    - `__init__(configs, context)` gets {device id: that device's adapter config} (`config_type`, kept in
      `configs`); it does no I/O.
    - `start(sink)` opens the transport and returns once messages can flow; `stop()` closes it and is safe
      after a failed `start()`.
    - Every message a device reports is validated and passed to the sink as a typed message; anything
      malformed is counted in `bad_messages` and logged, never raised.
    - `send(device_id, message)` delivers a `Command`, an event receipt `Ack` or reader `Feedback` to a
      device; it raises `AdapterError` if the device cannot be reached now or cannot do that at all. A
      message a protocol has no use for (a receipt to a Zigbee lock) is accepted and dropped.
    - Every task an adapter starts is owned by it and cancelled by `stop()`.
    """

    config_type: ClassVar[type[DeviceAdapterConfig]]
    """The adapter's config model; each subclass sets it, and its `type` default becomes `type_key`."""
    type_key: ClassVar[str]
    device_kinds: ClassVar[frozenset[str] | None] = None
    """Device kinds (reader, lock, contact, sensor) this protocol can serve; None = any."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_type" in cls.__dict__:
            cls.type_key = type_key_of(cls.config_type)

    def __init__(self, devices: Mapping[str, ConfigT], context: AdapterContext) -> None:
        self.configs: dict[str, ConfigT] = dict(devices)
        self.context = context
        self.bad_messages: Counter[str] = Counter()
        self.received = 0

    @classmethod
    def group_key(cls, config: ConfigT) -> str:
        """Devices whose configs share a group key are served by one adapter instance (e.g. one RS-485 bus)."""
        return cls.type_key

    @classmethod
    def device_acl(cls, device_id: str, config: ConfigT) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Topic filters (publish, subscribe) for a device that connects to the broker itself, else None."""
        return None

    @classmethod
    def broker_acl(cls, devices: Mapping[str, ConfigT]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Topic filters (publish, subscribe) the adapter's broker account needs; None if it uses no MQTT."""
        return None

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """How long the site should wait for a command's ack before resending; None: the site's default.

        Adapters that confirm a command from the device's state reports (and ack it as failed themselves after
        their own timeout) return more than that timeout, so the site never resends while the device is still
        expected to report.
        """
        return None

    def reject(self, key: str, reason: object) -> None:
        """Count and log a malformed device message under `key` (a topic, device id or reason); never raise."""
        self.bad_messages[key] += 1
        log.warning(
            "%s: bad device message on %s (%d so far): %s", self.type_key, key, sum(self.bad_messages.values()), reason
        )

    async def deliver(self, sink: DeviceSink, device_id: str, message: DeviceMessage) -> None:
        """Hand one validated message to the sink."""
        try:
            await sink(device_id, message)
        except Exception:  # supervision point: one failing handler run must not stop intake
            self.bad_messages["handler-error"] += 1
            log.exception("%s: handling a message from %s failed", self.type_key, device_id)

    @abc.abstractmethod
    async def start(self, sink: DeviceSink) -> None:
        """Open the transport and begin delivering messages to `sink`."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close the transport."""

    @abc.abstractmethod
    async def send(self, device_id: str, message: SiteMessage) -> None:
        """Deliver a command, an event receipt or reader feedback to a device."""


class OwnedTasks:
    """The background tasks of one adapter: started with a name, cancelled together on stop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        """Start `coro` as a task owned by this set."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task and wait until they have finished."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
