"""Per-device ordered dispatch: each device's messages in order, devices independent of each other.

One adapter serves many devices over one connection. Handling their messages one at a time makes a badge read
wait behind whatever another device's message triggered (a sampled telemetry or status change is journaled with
a FULL-sync commit, a few ms). Here each device has a small FIFO queue and, while it has work, one worker task:
a device's messages stay in the order received, and a reader's badge no longer queues behind a sensor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

M = TypeVar("M")
Handler = Callable[[str, M], Awaitable[None]]


class PerDeviceDispatcher(Generic[M]):
    """Hands (device id, message) to `handler`: in order per device, concurrently across devices.

    A device's worker task is created when a message arrives for it and ends when its queue is empty, so idle
    devices cost no task (their empty queue stays). Each queue holds at most `max_queued` messages: a device
    that floods the site makes `submit` wait (back-pressure on the connection) rather than dropping accepted
    messages or growing memory. `handler` must not raise (adapters pass `DeviceAdapter.deliver`, which logs
    and counts failures).
    """

    def __init__(self, handler: Handler[M], *, name: str, max_queued: int = 64) -> None:
        self._handler = handler
        self._name = name
        self._max_queued = max_queued
        self._queues: dict[str, asyncio.Queue[M]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._throttled: set[str] = set()

    @property
    def busy_devices(self) -> int:
        """How many devices have messages queued or being handled."""
        return len(self._workers)

    async def submit(self, device_id: str, message: M) -> None:
        """Queue `message` behind the device's earlier ones; wait only while that device's queue is full."""
        if self._closed:
            log.warning("%s: message from %s after stop, not handled", self._name, device_id)
            return
        queue = self._queues.get(device_id)
        if queue is None:
            queue = self._queues[device_id] = asyncio.Queue(self._max_queued)
        if queue.full() and device_id not in self._throttled:
            self._throttled.add(device_id)  # logged once per episode, not once per message
            log.warning("%s: %s has %d messages waiting; slowing intake", self._name, device_id, queue.qsize())
        await queue.put(message)
        if device_id not in self._workers and not self._closed:
            self._idle.clear()
            task = asyncio.create_task(self._work(device_id, queue), name=f"{self._name}-{device_id}")
            self._workers[device_id] = task

    async def _work(self, device_id: str, queue: asyncio.Queue[M]) -> None:
        try:
            while not queue.empty():
                await self._handler(device_id, queue.get_nowait())
        finally:
            # No await between the empty check and here: a message submitted meanwhile starts a new worker.
            # The queue stays (one per device that ever sent, a bounded set): a submitter woken from a full
            # queue still holds it, and a replacement queue would get messages that no worker serves.
            self._workers.pop(device_id, None)
            self._throttled.discard(device_id)
            if not self._workers:
                self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every queued message is handled (at most `timeout_s`); return True if all were."""
        deadline = time.monotonic() + timeout_s
        while self._workers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def stop(self) -> None:
        """Cancel whatever is still being handled (after `drain`) and refuse further messages."""
        self._closed = True
        workers = list(self._workers.values())
        if workers:
            pending = sum(q.qsize() for q in self._queues.values())
            log.warning("%s: stopping with %d devices busy, %d messages not handled", self._name, len(workers), pending)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        self._idle.set()
