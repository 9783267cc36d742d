"""Devices that behave like real firmware across broker outages (paho, its own thread).

They reconnect by themselves (paho's automatic reconnect, 0.1-1 s backoff) and re-subscribe on every connect; the
reader re-sends each event with the same id until the site's receipt arrives (docs/MQTT.md, "Delivery
guarantees"); the lock carries out commands, acknowledges them and reports its state.
"""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho

from firmware_adapters.messages import Ack, BadgeRead, Command, PayloadError, Status, Telemetry
from firmware_adapters.outpost_mqtt.codec import decode, encode, topic_for

RESEND_AFTER_S = 1.0  # the firmware's receipt timeout before it re-sends an event


class FirmwareDevice:
    """A native-protocol device on a paho client that survives broker restarts."""

    def __init__(self, port: int, device_id: str, password: str) -> None:
        self.device_id = device_id
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311, clean_session=True
        )
        self.client.username_pw_set(device_id, password)
        self.client.will_set(topic_for(device_id, "status"), encode(Status(state="offline")), qos=1, retain=True)
        self.client.reconnect_delay_set(0.1, 1.0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.port = port
        self.connects = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, reason: paho.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            return
        client.subscribe([(topic_for(self.device_id, "command"), 1), (topic_for(self.device_id, "receipt"), 1)])
        client.publish(topic_for(self.device_id, "status"), encode(Status(state="online")), qos=1, retain=True)
        with self._lock:
            self.connects += 1
        self.on_connected()
        self.connected.set()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        try:
            parsed, payload = decode(message.topic, message.payload)
        except PayloadError:
            return
        if parsed.channel == "receipt" and isinstance(payload, Ack):
            self.on_receipt(payload.id)
        elif isinstance(payload, Command):
            self.on_command(payload)

    def on_connected(self) -> None:
        """Hook: after each (re)connect, on paho's thread."""

    def on_receipt(self, event_id: str) -> None:
        """Hook: the site stored event `event_id`."""

    def on_command(self, command: Command) -> None:
        """Hook: a command arrived."""

    async def start(self) -> None:
        """Connect (paho keeps reconnecting from here on) and wait for the first connection."""
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        if not await asyncio.get_running_loop().run_in_executor(None, self.connected.wait, 10):
            raise TimeoutError(f"{self.device_id} did not connect")

    def stop(self) -> None:
        """Disconnect and end paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()


class FirmwareReader(FirmwareDevice):
    """A reader that re-sends every badge read until its receipt arrives."""

    def __init__(self, port: int, device_id: str, password: str) -> None:
        super().__init__(port, device_id, password)
        self.unconfirmed: dict[str, bytes] = {}
        self.receipts: set[str] = set()
        self.resends = 0
        self._resender: asyncio.Task[None] | None = None

    def on_receipt(self, event_id: str) -> None:
        with self._lock:
            self.unconfirmed.pop(event_id, None)
            self.receipts.add(event_id)

    def present(self, credential: str) -> BadgeRead:
        """Read a badge: publish it (queued by paho while disconnected) and keep it until confirmed."""
        badge = BadgeRead(credential=credential)
        payload = encode(badge)
        with self._lock:
            self.unconfirmed[badge.id] = payload
        self.client.publish(topic_for(self.device_id, "event"), payload, qos=1)
        return badge

    async def start(self) -> None:
        await super().start()
        self._resender = asyncio.create_task(self._resend_loop(), name=f"resend-{self.device_id}")

    async def _resend_loop(self) -> None:
        while True:
            await asyncio.sleep(RESEND_AFTER_S)  # the firmware's timer, not synchronisation
            with self._lock:
                waiting = list(self.unconfirmed.values())
            for payload in waiting:
                self.resends += 1
                self.client.publish(topic_for(self.device_id, "event"), payload, qos=1)

    async def stop_async(self) -> None:
        """Stop re-sending, then disconnect."""
        if self._resender is not None:
            self._resender.cancel()
            await asyncio.gather(self._resender, return_exceptions=True)
        self.stop()


class FirmwareLock(FirmwareDevice):
    """A lock that acknowledges each command and reports `locked` (no relock timer: the state after a command)."""

    def __init__(self, port: int, device_id: str, password: str) -> None:
        super().__init__(port, device_id, password)
        self.commands: list[Command] = []
        self.locked = True
        self._arrived = threading.Condition()

    def on_connected(self) -> None:
        self._report()

    def _report(self) -> None:
        self.client.publish(
            topic_for(self.device_id, "telemetry"), encode(Telemetry(values={"locked": float(self.locked)})), qos=1
        )

    def on_command(self, command: Command) -> None:
        self.locked = command.action == "lock"
        self.client.publish(topic_for(self.device_id, "ack"), encode(Ack(id=command.id)), qos=1)
        self._report()
        with self._arrived:
            self.commands.append(command)
            self._arrived.notify_all()

    async def wait_commands(self, count: int, timeout_s: float = 10.0) -> list[Command]:
        """Wait until `count` commands have arrived; return them."""

        def wait() -> list[Command]:
            with self._arrived:
                if not self._arrived.wait_for(lambda: len(self.commands) >= count, timeout_s):
                    raise TimeoutError(f"{len(self.commands)} of {count} commands arrived")
                return list(self.commands)

        return await asyncio.get_running_loop().run_in_executor(None, wait)
