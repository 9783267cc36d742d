"""What an adapter delivers, seen from the test: collecting and blocking sinks, and spies on its boundaries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from edge import keys
from edge.app import EdgeRunner
from firmware_adapters.messages import Ack, ContactChange, DeviceMessage, Status, Telemetry


class Sink:
    """A DeviceSink that collects what an adapter delivers."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[str, DeviceMessage]] = asyncio.Queue()

    async def __call__(self, device_id: str, message: DeviceMessage) -> None:
        self.messages.put_nowait((device_id, message))

    async def next(self, kind: type, timeout_s: float = 2.0) -> tuple[str, Any]:
        """Wait for the next message of `kind` (others are skipped)."""
        while True:
            device_id, message = await asyncio.wait_for(self.messages.get(), timeout_s)
            if isinstance(message, kind):
                return device_id, message


def spy_acks(edge: EdgeRunner) -> asyncio.Queue[Ack]:
    """Acks the access service receives (spied at the router -> access boundary)."""
    access = edge.app[keys.ACCESS]
    acks: asyncio.Queue[Ack] = asyncio.Queue()
    original = access.on_ack

    async def on_ack(device_id: str, ack: Ack) -> None:
        acks.put_nowait(ack)
        await original(device_id, ack)

    access.on_ack = on_ack
    return acks


class BlockingSink:
    """Records what is handled; a message matching `blocks` waits until `release` is set."""

    def __init__(self, blocks: Callable[[str, DeviceMessage], bool]) -> None:
        self.blocks = blocks
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()
        self.handled: list[tuple[str, DeviceMessage]] = []

    async def __call__(self, device_id: str, message: DeviceMessage) -> None:
        if self.blocks(device_id, message):
            self.blocked.set()
            await self.release.wait()  # a FULL-sync journal write on a slow SD card
        self.handled.append((device_id, message))

    def of(self, device_id: str) -> list[tuple[Any, ...]]:
        """What was handled for `device_id`, in order, in brief."""
        return [brief(m) for d, m in self.handled if d == device_id]


def brief(message: DeviceMessage) -> tuple[Any, ...]:
    """A comparable summary of a message (ids and timestamps left out)."""
    if isinstance(message, Status):
        return ("status", message.state)
    if isinstance(message, ContactChange):
        return ("contact", message.open)
    if isinstance(message, Telemetry):
        return ("telemetry", message.values)
    if isinstance(message, Ack):
        return ("ack", message.id, message.ok)
    return (type(message).__name__,)


def signal_when_intake_stops(adapter: Any) -> asyncio.Event:
    """Wrap the adapter's `_link.stop_intake` so the returned event is set once intake has stopped."""
    intake_stopped = asyncio.Event()
    stop_intake = adapter._link.stop_intake

    async def spied_stop_intake(drain_timeout_s: float) -> None:
        await stop_intake(drain_timeout_s)
        intake_stopped.set()

    adapter._link.stop_intake = spied_stop_intake
    return intake_stopped
