"""Lock commands for devices that report state but have no command ids or timed unlock (Zigbee, Tasmota, Shelly).

The adapter publishes LOCK/UNLOCK through `publish(device_id, action, duration_s)` (duration_s: the command's,
None for a re-lock); `LockCommandTracker` acknowledges each `Command` when the
device reports the commanded state (or as failed after a timeout) and, for a timed unlock the device cannot do
itself, sends the re-lock when the time is up. All its tasks belong to the adapter's `OwnedTasks`.
`BridgedLockAdapter` is the lifecycle such adapters share.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal, TypeVar

from firmware_adapters.base import (
    AdapterContext,
    AdapterError,
    DeviceAdapter,
    DeviceAdapterConfig,
    DeviceSink,
    OwnedTasks,
)
from firmware_adapters.dispatch import PerDeviceDispatcher
from firmware_adapters.messages import Ack, Command, DeviceMessage
from firmware_adapters.mqtt_link import open_link

log = logging.getLogger(__name__)

LockAction = Literal["lock", "unlock"]
RELOCK_ATTEMPTS = 5
RELOCK_RETRY_S = 1.0
ACK_MARGIN_S = 1.0
"""The site waits this much longer than an adapter's own confirmation timeout before resending a command."""


class LockCommandTracker:
    """Pending confirmations and scheduled re-locks of one adapter's locks."""

    def __init__(
        self,
        name: str,
        tasks: OwnedTasks,
        publish: Callable[[str, LockAction, float | None], Awaitable[None]],
        on_ack: Callable[[str, Ack], Awaitable[None]],
    ) -> None:
        self._name = name
        self._tasks = tasks
        self._publish = publish
        self._on_ack = on_ack
        self._waiters: dict[str, list[tuple[bool, asyncio.Future[None]]]] = {}
        self._relocks: dict[str, asyncio.Task[None]] = {}
        self._in_flight: dict[str, str] = {}
        self.relock_failures = 0

    async def command(self, device_id: str, command: Command, *, timeout_s: float, relock: bool) -> None:
        """Publish the command, ack it once confirmed; with `relock`, lock again after `duration_s`.

        The same command again (the site resends what is not acked in time) is idempotent: it is not published a
        second time (the device would unlock twice) and keeps its first confirmation wait and re-lock time; the
        confirmation wait ends with an ack either way. Raises AdapterError (and acks nothing) if it cannot be
        published.
        """
        if self._in_flight.get(command.id) == device_id:
            log.debug(
                "%s: %s %s to %s is still awaiting confirmation", self._name, command.action, command.id, device_id
            )
            return
        pending = self._relocks.pop(device_id, None)
        if pending is not None:
            pending.cancel()
        future = self._expect(device_id, command.action == "lock")
        try:
            await self._publish(device_id, command.action, command.duration_s)
        except AdapterError:
            self._forget(device_id, future)
            raise
        self._in_flight[command.id] = device_id
        self._tasks.spawn(self._ack(device_id, command, future, timeout_s), name=f"{self._name}-ack-{device_id}")
        if relock and command.action == "unlock" and command.duration_s:
            self._relocks[device_id] = self._tasks.spawn(
                self._relock_after(device_id, command.duration_s, timeout_s), name=f"{self._name}-relock-{device_id}"
            )

    def report(self, device_id: str, locked: bool) -> None:
        """The device reported its state: resolve the commands it confirms."""
        for expected, future in self._waiters.get(device_id, []):
            if expected == locked and not future.done():
                future.set_result(None)

    def relocks_pending(self) -> list[str]:
        """Devices with a re-lock still to come."""
        return [device_id for device_id, task in self._relocks.items() if not task.done()]

    async def relock_now(self, device_ids: list[str]) -> None:
        """Send LOCK at once (on stop: a door must not stay unlocked because the site shuts down)."""
        for device_id in device_ids:
            with contextlib.suppress(AdapterError):
                await self._publish(device_id, "lock", None)
                log.info("%s: re-locked %s on stop", self._name, device_id)
        self._relocks.clear()

    def _expect(self, device_id: str, locked: bool) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(device_id, []).append((locked, future))
        return future

    def _forget(self, device_id: str, future: asyncio.Future[None]) -> None:
        self._waiters[device_id] = [(e, f) for e, f in self._waiters.get(device_id, []) if f is not future]

    async def _ack(self, device_id: str, command: Command, future: asyncio.Future[None], timeout_s: float) -> None:
        try:
            await asyncio.wait_for(future, timeout_s)
            ack = Ack(id=command.id)
        except TimeoutError:
            detail = f"the device did not report {command.action}ed within {timeout_s:g}s"
            ack = Ack(id=command.id, ok=False, detail=detail)
        finally:
            self._forget(device_id, future)
            self._in_flight.pop(command.id, None)
        await self._on_ack(device_id, ack)

    async def _relock_after(self, device_id: str, delay_s: float, timeout_s: float) -> None:
        await asyncio.sleep(delay_s)
        for attempt in range(1, RELOCK_ATTEMPTS + 1):
            future = self._expect(device_id, True)
            try:
                await self._publish(device_id, "lock", None)
                await asyncio.wait_for(future, timeout_s)
                return
            except (AdapterError, TimeoutError) as err:
                log.error("%s: re-lock of %s failed (attempt %d): %s", self._name, device_id, attempt, err or "timeout")
            finally:
                self._forget(device_id, future)
            await asyncio.sleep(RELOCK_RETRY_S)
        self.relock_failures += 1


class BridgedLockConfig(DeviceAdapterConfig):
    """Config of a lock whose bridge has no command ids: commands are confirmed by its state reports."""

    ack_timeout_s: float  # each protocol redeclares it with its own bounds, default and description


LockConfigT = TypeVar("LockConfigT", bound=BridgedLockConfig)


class BridgedLockAdapter(DeviceAdapter[LockConfigT]):
    """What the adapters of such locks (Zigbee2MQTT, Tasmota/Shelly) share: one broker link, owned tasks, a
    `LockCommandTracker` and a per-device dispatcher, and so their start, stop and ack timeout.

    Subclasses map their protocol in `_on_message` (reports in) and `_publish_action` (LOCK/UNLOCK out).
    """

    def __init__(
        self,
        devices: Mapping[str, LockConfigT],
        context: AdapterContext,
        *,
        subscriptions: Sequence[str],
        name: str,
    ) -> None:
        super().__init__(devices, context)
        if context.mqtt is None:
            raise AdapterError(f"{self.type_key} adapter needs a broker endpoint")
        self._sink: DeviceSink | None = None
        self._tasks = OwnedTasks()
        self._locks = LockCommandTracker(self.type_key, self._tasks, self._publish_action, self._deliver_ack)
        self._devices: PerDeviceDispatcher[DeviceMessage] = PerDeviceDispatcher(self._handle, name=name)
        self._link = open_link(context.mqtt, subscriptions, self._on_message, name=name)
        self.ignored = 0

    @abc.abstractmethod
    async def _on_message(self, topic: str, payload: bytes) -> None:
        """Decode and map one message in the link's task, then queue the results per device; never raise."""

    @abc.abstractmethod
    async def _publish_action(self, device_id: str, action: LockAction, duration_s: float | None) -> None:
        """Publish LOCK/UNLOCK for a device (duration_s: the command's, None for a re-lock)."""

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """Longer than the device's ack_timeout_s: the adapter acks every command itself, as confirmed or failed."""
        config = self.configs.get(device_id)
        return None if config is None else config.ack_timeout_s + ACK_MARGIN_S

    async def start(self, sink: DeviceSink) -> None:
        """Connect and subscribe to the devices' reports (retained ones arrive at once)."""
        self._sink = sink
        await self._link.start()

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Shut down without leaving a door unlocked.

        Stop intake and hand on what was already delivered (still connected, so the reports being handled can
        still confirm pending commands), then re-lock now, cancel tasks, disconnect, and stop the dispatcher.
        """
        deadline = time.monotonic() + drain_timeout_s
        await self._link.stop_intake(drain_timeout_s)
        await self._devices.drain(max(0.0, deadline - time.monotonic()))
        pending = self._locks.relocks_pending()
        await self._tasks.cancel_all()
        await self._locks.relock_now(pending)
        await self._link.stop()
        await self._devices.stop()

    async def _deliver_ack(self, device_id: str, ack: Ack) -> None:
        if self._sink is not None:
            await self.deliver(self._sink, device_id, ack)

    async def _handle(self, device_id: str, message: DeviceMessage) -> None:
        assert self._sink is not None
        await self.deliver(self._sink, device_id, message)
