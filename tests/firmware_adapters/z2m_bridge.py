"""A Zigbee2MQTT bridge played by a real MQTT client, and the test site with its Zigbee devices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt

from edge.broker.directory import hash_password
from tests.edge.site import DEVICE_HASHES
from tests.firmware_adapters.sites import adapter_site

BRIDGE_PASSWORD = "z2m-bridge-pw"
BRIDGE_HASH = hash_password(BRIDGE_PASSWORD)


def z2m_site(data_dir: Path, *, ack_timeout_s: float = 3.0) -> dict[str, Any]:
    def z2m(name: str, **extra: Any) -> dict[str, Any]:
        return {"type": "zigbee2mqtt", "friendly_name": name, **extra}

    devices = [
        {"id": "reader-front", "kind": "reader", "zone": "lobby", "password_hash": DEVICE_HASHES["reader-front"]},
        {"id": "lock-z", "kind": "lock", "zone": "lobby", "adapter": z2m("front_lock", ack_timeout_s=ack_timeout_s)},
        {"id": "contact-z", "kind": "contact", "zone": "lobby", "adapter": z2m("front_contact")},
        {"id": "climate-z", "kind": "sensor", "zone": "lobby", "adapter": z2m("lobby_climate")},
    ]
    doors = [
        {
            "id": "front",
            "name": "Front door",
            "zone": "lobby",
            "lock": "lock-z",
            "readers": ["reader-front"],
            "contact": "contact-z",
            "unlock_s": 1,
        }
    ]
    # The account Zigbee2MQTT itself logs in with (its mqtt.user / mqtt.password), as in docs/MQTT.md.
    bridge = {
        "username": "z2m-bridge",
        "password_hash": BRIDGE_HASH,
        "publish": ["zigbee2mqtt/#"],
        "subscribe": ["zigbee2mqtt/#"],
    }
    return adapter_site(data_dir, devices, doors, accounts=[bridge])


class Z2mBridge:
    """Plays Zigbee2MQTT: retained bridge state and availability, device states, locks that obey /set."""

    def __init__(self, port: int, *, locks_respond: bool = True, report_delay_s: float = 0.05) -> None:
        self.port = port
        self.locks_respond = locks_respond
        self.report_delay_s = report_delay_s  # field Zigbee locks report their new lock_state ~2 s after /set
        self.jammed: set[str] = set()  # locks whose bolt does not fully throw on LOCK
        self.sets: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.lock_state = {"front_lock": "locked"}
        self._client: aiomqtt.Client | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="z2m-bridge")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def publish(self, topic: str, payload: dict[str, Any] | str | bytes, *, retain: bool = False) -> None:
        assert self._client is not None
        data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        await self._client.publish(topic, data, qos=1, retain=retain)

    async def report_lock(self, name: str, *, optimistic: str | None = None) -> None:
        state = "LOCK" if self.lock_state[name] == "locked" else "UNLOCK"
        await self.publish(
            f"zigbee2mqtt/{name}",
            {"battery": 84, "linkquality": 105, "lock_state": self.lock_state[name], "state": optimistic or state},
        )

    async def _run(self) -> None:
        will = aiomqtt.Will("zigbee2mqtt/bridge/state", json.dumps({"state": "offline"}), qos=1, retain=True)
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier="z2m-bridge",
            username="z2m-bridge",
            password=BRIDGE_PASSWORD,
            protocol=aiomqtt.ProtocolVersion.V311,
            will=will,
        ) as client:
            self._client = client
            await client.subscribe("zigbee2mqtt/+/set", qos=1)
            await self.publish("zigbee2mqtt/bridge/state", {"state": "online"}, retain=True)
            for name in ("front_lock", "front_contact", "lobby_climate"):
                await self.publish(f"zigbee2mqtt/{name}/availability", {"state": "online"}, retain=True)
            await self.report_lock("front_lock")
            self._ready.set()
            async for message in client.messages:
                name = str(message.topic).split("/")[1]
                command = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                self.sets.put_nowait((name, command))
                if name in self.lock_state and self.locks_respond:
                    # Zigbee2MQTT publishes its optimistic state at once, the lock's own report comes later.
                    await self.report_lock(name, optimistic=command["state"])
                    await asyncio.sleep(self.report_delay_s)  # the lock's radio wakes up and reports (not sync)
                    locked = "not_fully_locked" if name in self.jammed else "locked"
                    self.lock_state[name] = locked if command["state"] == "LOCK" else "unlocked"
                    await self.report_lock(name)
