"""PerDeviceDispatcher: each device's messages in order, devices independent, bounded, drained on stop."""

from __future__ import annotations

import asyncio
import random

from firmware_adapters.dispatch import PerDeviceDispatcher
from tests.polling import eventually


async def test_each_device_keeps_its_order_while_devices_interleave() -> None:
    rng = random.Random(20261122)
    handled: list[tuple[str, int]] = []

    async def handler(device_id: str, seq: int) -> None:
        for _ in range(rng.randrange(3)):  # handlers suspend a varying number of times
            await asyncio.sleep(0)
        handled.append((device_id, seq))

    dispatcher: PerDeviceDispatcher[int] = PerDeviceDispatcher(handler, name="test")
    sent: dict[str, list[int]] = {"reader": [], "lock": [], "sensor": []}
    for seq in range(300):
        device = rng.choice(list(sent))
        sent[device].append(seq)
        await dispatcher.submit(device, seq)
        if rng.random() < 0.3:
            await asyncio.sleep(0)
    assert await dispatcher.drain(5)
    for device, seqs in sent.items():
        assert [s for d, s in handled if d == device] == seqs
    assert len(handled) == 300
    assert dispatcher.busy_devices == 0  # workers end when their device has nothing queued
    await dispatcher.stop()


async def test_a_device_waiting_on_slow_work_does_not_hold_up_another() -> None:
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(device_id: str, message: str) -> None:
        if message == "telemetry-journaled":
            await release.wait()  # e.g. a FULL-sync journal write
        handled.append(message)

    dispatcher: PerDeviceDispatcher[str] = PerDeviceDispatcher(handler, name="test")
    await dispatcher.submit("sensor", "telemetry-journaled")
    await dispatcher.submit("sensor", "telemetry-next")
    await dispatcher.submit("reader", "badge")
    await eventually(lambda: "badge" in handled, timeout_s=2, interval_s=0.001)
    assert handled == ["badge"]  # the sensor's second message still waits behind its first
    release.set()
    assert await dispatcher.drain(2)
    assert handled == ["badge", "telemetry-journaled", "telemetry-next"]
    await dispatcher.stop()


async def test_a_full_queue_slows_intake_instead_of_dropping() -> None:
    release = asyncio.Event()
    taken = asyncio.Event()
    handled: list[int] = []
    other: list[int] = []

    async def handler(device_id: str, seq: int) -> None:
        if device_id == "other":
            other.append(seq)
            return
        taken.set()
        await release.wait()
        handled.append(seq)

    dispatcher: PerDeviceDispatcher[int] = PerDeviceDispatcher(handler, name="test", max_queued=2)
    await dispatcher.submit("flood", 0)
    await taken.wait()  # the worker took message 0 and waits
    await dispatcher.submit("flood", 1)
    await dispatcher.submit("flood", 2)
    blocked = asyncio.create_task(dispatcher.submit("flood", 3))
    # Barrier: another device's message, submitted after, is handled; a submit that did not wait is done by then.
    await dispatcher.submit("other", 99)
    await eventually(lambda: other == [99], interval_s=0.001)
    assert not blocked.done()  # back-pressure: the connection's reader waits here
    release.set()
    await asyncio.wait_for(blocked, 2)
    assert await dispatcher.drain(2)
    assert handled == [0, 1, 2, 3]
    await dispatcher.stop()


async def test_drain_waits_for_work_in_flight_and_stop_cancels_what_overruns() -> None:
    started = asyncio.Event()
    begun: list[str] = []
    finished: list[str] = []

    async def handler(device_id: str, message: str) -> None:
        begun.append(message)
        started.set()
        await asyncio.sleep(0.1 if message == "quick" else 60)
        finished.append(message)

    dispatcher: PerDeviceDispatcher[str] = PerDeviceDispatcher(handler, name="test")
    await dispatcher.submit("reader", "quick")
    await started.wait()
    assert await dispatcher.drain(2)  # waited for the receipt-sending handler to finish
    assert finished == ["quick"]
    await dispatcher.submit("lock", "stuck")
    assert not await dispatcher.drain(0.05)
    await dispatcher.stop()  # the overrunning handler is cancelled, no task is left behind
    assert dispatcher.busy_devices == 0
    await dispatcher.submit("reader", "after-stop")  # refused (logged), not handled: no worker is started
    assert dispatcher.busy_devices == 0
    assert await dispatcher.drain(1)
    assert begun == ["quick", "stuck"] and finished == ["quick"]


async def test_a_flood_handled_without_suspending_never_stalls_intake() -> None:
    """A handler that returns without suspending (telemetry that changes nothing) empties the queue in one go.

    The worker then ended while the submitter, woken from a full queue, still held that queue; the next
    message went to a new queue that no worker served, and intake stopped for every device of the adapter.
    """
    handled: list[int] = []

    async def handler(_device_id: str, seq: int) -> None:
        handled.append(seq)

    dispatcher: PerDeviceDispatcher[int] = PerDeviceDispatcher(handler, name="test", max_queued=8)

    async def intake() -> None:  # as an adapter's link pumps: one submit after another, in one task
        for seq in range(200):
            await dispatcher.submit("sensor", seq)

    await asyncio.wait_for(intake(), 5)
    assert await dispatcher.drain(5)
    assert handled == list(range(200))
    await dispatcher.stop()
