"""A real paho MQTT client for tests that play a device: driven from paho's thread, recording what arrives."""

from __future__ import annotations

import asyncio
import threading

import paho.mqtt.client as paho


class PahoDevice:
    """A synchronous paho client driven from a thread, recording what arrives."""

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None,
        password: str | None,
        clean_session: bool = True,
    ) -> None:
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=clean_session,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack = threading.Event()
        self.reason: paho.ReasonCode | None = None
        self.granted: list[int] = []
        self.subacked = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self.port = port

    def _on_connect(self, _c, _u, _f, reason, _p) -> None:  # type: ignore[no-untyped-def]
        self.reason = reason
        self.connack.set()

    def _on_subscribe(self, _c, _u, _mid, reasons, _p) -> None:  # type: ignore[no-untyped-def]
        self.granted = [r.value for r in reasons]
        self.subacked.set()

    async def connect(self) -> bool:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        ok = await asyncio.get_running_loop().run_in_executor(None, self.connack.wait, 5)
        return ok and self.reason is not None and not self.reason.is_failure

    async def subscribe(self, topic: str, qos: int = 1) -> list[int]:
        self.subacked.clear()
        self.client.subscribe(topic, qos)
        await asyncio.get_running_loop().run_in_executor(None, self.subacked.wait, 5)
        return self.granted

    async def publish(self, topic: str, payload: str, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        await asyncio.get_running_loop().run_in_executor(None, info.wait_for_publish, 5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
