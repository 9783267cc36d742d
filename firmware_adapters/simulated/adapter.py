"""Simulated reader, lock, door contact and sensor: real MQTT clients with an LWT.

These are the device side of the native contract (peers of the site, not site adapters): the demo and the
tests run them against the real broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiomqtt

from firmware_adapters.base import AdapterError
from firmware_adapters.messages import (
    Ack,
    BadgeRead,
    Command,
    ContactChange,
    DeviceMessage,
    PayloadError,
    Status,
    Telemetry,
)
from firmware_adapters.outpost_mqtt.codec import Channel, decode, encode, topic_for
from firmware_adapters.simulated.config import SimulatedDeviceConfig

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0


class SimulatedDevice:
    """A device process: connects with its credentials, announces itself, handles commands."""

    firmware = "sim-1.0"

    def __init__(self, config: SimulatedDeviceConfig) -> None:
        self.config = config
        self.device_id = config.device_id
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.received: list[DeviceMessage] = []
        self.receipts: set[str] = set()
        self._receipt_event = asyncio.Event()

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and wait until subscribed."""
        self._task = asyncio.create_task(self._run(), name=f"sim-{self.device_id}")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({self._task, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task in done:
            err = self._task.exception()
            raise AdapterError(f"{self.device_id}: cannot connect: {err}") from err
        if not self._ready.is_set():
            raise AdapterError(f"{self.device_id}: not connected after {timeout_s}s")

    async def stop(self) -> None:
        """Disconnect cleanly (publishes offline first)."""
        if self._client is not None and self._ready.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await self.publish("status", Status(state="offline", firmware=self.firmware), retain=True)
        if self._task is not None:
            self._task.cancel()
            # Bounded: if the MQTT client swallows the cancellation mid-publish, stop anyway (and say so)
            # instead of hanging the demo's or a test's shutdown.
            done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
            if not done:
                log.warning("%s: connection task did not stop within %.0f s", self.device_id, STOP_TIMEOUT_S)
            elif not self._task.cancelled() and self._task.exception() is not None:
                log.debug("%s: connection task ended with %r", self.device_id, self._task.exception())
        self._ready.clear()

    async def publish(self, channel: Channel, message: DeviceMessage, *, retain: bool = False) -> None:
        """Publish on one of this device's own channels."""
        if self._client is None:
            raise AdapterError(f"{self.device_id}: not connected")
        await self._client.publish(topic_for(self.device_id, channel), encode(message), qos=1, retain=retain)

    async def wait_receipt(self, event_id: str, timeout_s: float = 5.0) -> bool:
        """Wait until the site confirms an event is stored."""

        async def _wait() -> None:
            while event_id not in self.receipts:
                self._receipt_event.clear()
                await self._receipt_event.wait()

        try:
            await asyncio.wait_for(_wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def on_connected(self) -> None:
        """Hook: called after the device is online."""

    async def on_command(self, command: Command) -> None:
        """Hook: handle a command (default: acknowledge)."""
        await self.publish("ack", Ack(id=command.id))

    async def _run(self) -> None:
        will = aiomqtt.Will(topic_for(self.device_id, "status"), encode(Status(state="offline")), qos=1, retain=True)
        async with aiomqtt.Client(
            self.config.host,
            self.config.port,
            identifier=self.device_id,
            username=self.device_id,
            password=self.config.password,
            protocol=aiomqtt.ProtocolVersion.V311,
            will=will,
            clean_session=True,
        ) as client:
            self._client = client
            await client.subscribe(topic_for(self.device_id, "command"), qos=1)
            await client.subscribe(topic_for(self.device_id, "receipt"), qos=1)
            await self.publish("status", Status(state="online", firmware=self.firmware), retain=True)
            self._ready.set()
            await self.on_connected()
            async for message in client.messages:
                try:
                    parsed, payload = decode(str(message.topic), bytes(message.payload))  # type: ignore[arg-type,unused-ignore]
                except PayloadError as err:
                    log.warning("%s: ignoring bad message: %s", self.device_id, err)
                    continue
                self.received.append(payload)
                if parsed.channel == "receipt" and isinstance(payload, Ack):
                    self.receipts.add(payload.id)
                    self._receipt_event.set()
                elif isinstance(payload, Command):
                    await self.on_command(payload)


class SimulatedReader(SimulatedDevice):
    """A badge reader."""

    async def present(self, credential: str) -> BadgeRead:
        """Publish a badge read."""
        badge = BadgeRead(credential=credential)
        await self.publish("event", badge)
        return badge


class SimulatedLock(SimulatedDevice):
    """A door strike: unlocks on command, relocks after the duration, reports `locked`.

    Two faults of real lock controllers can be switched on (and off again, through the attributes of the
    same names): the next ``drop_first`` commands are lost before the controller acts on them (a flaky radio
    link), and with ``acknowledge=False`` it acts but never acks (a firmware bug). Every command the broker
    delivers is queued on `commands` either way.
    """

    def __init__(self, config: SimulatedDeviceConfig, *, drop_first: int = 0, acknowledge: bool = True) -> None:
        super().__init__(config)
        self.locked = True
        self._relock: asyncio.Task[None] | None = None
        self.commands: asyncio.Queue[Command] = asyncio.Queue()
        self.drop_first = drop_first
        self.acknowledge = acknowledge
        self.dropped: list[Command] = []
        self.acked: list[str] = []

    async def on_connected(self) -> None:
        """Report the initial state."""
        await self._report()

    async def _report(self) -> None:
        await self.publish("telemetry", Telemetry(values={"locked": 1.0 if self.locked else 0.0}))

    async def on_command(self, command: Command) -> None:
        """Carry out lock/unlock and acknowledge."""
        self.commands.put_nowait(command)
        if self.drop_first > 0:
            self.drop_first -= 1
            self.dropped.append(command)
            return
        if self._relock is not None:
            self._relock.cancel()
        self.locked = command.action == "lock"
        if self.acknowledge:
            await self.publish("ack", Ack(id=command.id))
            self.acked.append(command.id)
        await self._report()
        if command.action == "unlock" and command.duration_s:
            self._relock = asyncio.create_task(self._relock_after(command.duration_s))

    async def _relock_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.locked = True
        await self._report()

    async def stop(self) -> None:
        """Disconnect, then cancel a pending relock (a command handled meanwhile may have started a new one)."""
        await super().stop()
        if self._relock is not None:
            self._relock.cancel()
            await asyncio.gather(self._relock, return_exceptions=True)


class SimulatedContact(SimulatedDevice):
    """A door contact."""

    async def set_open(self, is_open: bool) -> ContactChange:
        """Publish a contact change."""
        change = ContactChange(open=is_open)
        await self.publish("event", change)
        return change


class SimulatedSensor(SimulatedDevice):
    """A temperature/humidity sensor reporting every `interval_s`."""

    def __init__(self, config: SimulatedDeviceConfig, interval_s: float = 5.0, seed: int = 7) -> None:
        super().__init__(config)
        self.interval_s = interval_s
        self._rng = random.Random(seed)
        self._reporter: asyncio.Task[None] | None = None

    async def on_connected(self) -> None:
        """Start periodic reports."""
        self._reporter = asyncio.create_task(self._report_loop())

    async def _report_loop(self) -> None:
        temperature = 21.0
        while True:
            temperature += self._rng.uniform(-0.2, 0.2)
            humidity = 45 + self._rng.uniform(-3, 3)
            await self.publish(
                "telemetry",
                Telemetry(values={"temperature_c": round(temperature, 2), "humidity_pct": round(humidity, 1)}),
            )
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        """Stop reporting, then disconnect."""
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
        await super().stop()
