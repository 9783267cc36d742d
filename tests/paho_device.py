"""A real paho MQTT client for tests that play a device: driven from paho's thread, recording what arrives."""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho


class PahoDevice:
    """A synchronous paho client driven from a thread, recording what arrives.

    It never reconnects by itself: a connection the broker closes (a refusal, a takeover) stays closed, and
    `disconnected` says so.
    """

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        clean_session: bool = True,
        protocol: int = paho.MQTTv311,
        will: tuple[str, str] | None = None,
    ) -> None:
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=clean_session,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.connack = threading.Event()
        self.reason: paho.ReasonCode | None = None
        self.session_present: bool | None = None
        self.granted: list[int] = []
        self.subacked = threading.Event()
        self.disconnected = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.port = port

    def _on_connect(self, _c, _u, flags, reason, _p) -> None:  # type: ignore[no-untyped-def]
        self.reason = reason
        self.session_present = flags.session_present
        self.connack.set()

    def _on_subscribe(self, _c, _u, _mid, reasons, _p) -> None:  # type: ignore[no-untyped-def]
        self.granted = [r.value for r in reasons]
        self.subacked.set()

    def _on_disconnect(self, _c, _u, _f, _reason, _p) -> None:  # type: ignore[no-untyped-def]
        self.client.disconnect()  # marks the client as disconnecting: paho's loop then does not reconnect
        self.disconnected.set()

    def _on_message(self, _c, _u, message: paho.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload))
            self._arrived.notify_all()

    async def connect(self) -> bool:
        """Connect; True if the broker accepted (a CONNACK with return code 0 within 5 s)."""
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        ok = await asyncio.get_running_loop().run_in_executor(None, self.connack.wait, 5)
        return ok and self.reason is not None and not self.reason.is_failure

    async def subscribe(self, topic: str, qos: int = 1) -> list[int]:
        self.subacked.clear()
        self.client.subscribe(topic, qos)
        await asyncio.get_running_loop().run_in_executor(None, self.subacked.wait, 5)
        return self.granted

    async def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has it (PUBACK for QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5)

    async def wait_for(self, topic: str, payload: bytes, timeout_s: float = 5.0) -> list[tuple[str, bytes]]:
        """Wait until (topic, payload) has arrived; return everything received up to and including it."""

        def wait() -> list[tuple[str, bytes]]:
            with self._arrived:
                self._arrived.wait_for(lambda: (topic, payload) in self.messages, timeout_s)
                if (topic, payload) not in self.messages:
                    raise TimeoutError(f"{topic} {payload!r} did not arrive; got {self.messages}")
                return self.messages[: self.messages.index((topic, payload)) + 1]

        return await asyncio.get_running_loop().run_in_executor(None, wait)

    async def wait_disconnected(self, timeout_s: float = 5.0) -> bool:
        return await asyncio.get_running_loop().run_in_executor(None, self.disconnected.wait, timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
