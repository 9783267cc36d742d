"""A flooding client does not monopolise the broker's event loop (the site core shares it in-process)."""

from __future__ import annotations

import asyncio
import struct

from edge.broker.directory import BrokerUser, hash_password
from edge.broker.protocol_handler import YIELD_EVERY
from tests.brokers import running_broker
from tests.polling import eventually

BURST = 500
HASHES = {pw: hash_password(pw) for pw in ("pw-dev", "pw-core")}  # at import: argon2 is slow, not on the loop


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _connect(client_id: str, username: str, password: str) -> bytes:
    body = _string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
    body += _string(client_id) + _string(username) + _string(password)
    return bytes([0x10, len(body)]) + body


def _publish(topic: str, payload: bytes) -> bytes:
    body = _string(topic) + payload  # QoS 0: no packet id
    return bytes([0x30, len(body)]) + body


async def test_a_burst_in_one_read_lets_other_tasks_run_between_messages() -> None:
    """500 PUBLISHes arriving in one socket read are routed a few at a time, with other tasks run in between.

    Reading from a filled buffer never suspends; before, the whole burst was routed in one turn of the loop
    while the site core's intake (in-process, on the same loop) got one step, and it shed load under floods.
    """
    users = [
        BrokerUser("dev", HASHES["pw-dev"], publish=("site/#",), subscribe=()),
        BrokerUser("core", HASHES["pw-core"], publish=(), subscribe=("site/#",)),
    ]
    async with running_broker(users) as broker:
        received: list[str] = []
        local = broker.local.connect("core", lambda topic, _payload: received.append(topic))
        local.subscribe(["site/#"])
        seen_between: list[int] = []
        stop = asyncio.Event()

        async def other_task() -> None:  # stands in for the site core: one step per turn of the loop
            while not stop.is_set():
                seen_between.append(len(received))
                await asyncio.sleep(0)

        observer = asyncio.create_task(other_task())
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        try:
            writer.write(_connect("dev", "dev", "pw-dev"))
            assert await asyncio.wait_for(reader.readexactly(4), 5) == bytes([0x20, 2, 0, 0])
            writer.write(b"".join(_publish(f"site/m{i}", b"x" * 20) for i in range(BURST)))
            await writer.drain()
            await eventually(lambda: len(received) == BURST)
        finally:
            stop.set()
            await observer
            writer.close()
            await writer.wait_closed()
            local.close()
        assert received == [f"site/m{i}" for i in range(BURST)]
        steps = [b - a for a, b in zip(seen_between, seen_between[1:], strict=False)]
        assert max(steps) <= YIELD_EVERY, f"{max(steps)} messages routed in one turn of the loop"
