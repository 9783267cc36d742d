"""Lock commands with acknowledgement: each command carries an id; the lock must ack it.

A command that is not acknowledged within ``access.command_ack_timeout_s`` (or the longer wait the lock's
protocol needs: a Zigbee lock reports seconds later and its adapter acks it itself) is sent again with the same id (a
lock treats a repeated id as the same command), the wait doubling each time, at most
``access.command_retries`` times; then it is a fault. A newer command to the same lock supersedes an older
one still in flight (an unlock retried after the lock command that followed it would be wrong). Delivery
runs in tasks owned here, never inline: the ack arrives through the same intake that delivered the badge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from firmware_adapters.base import AdapterError
from firmware_adapters.messages import Ack, Command

log = logging.getLogger(__name__)


class CommandTransport(Protocol):
    """What delivers a command to a device (the DeviceGateway)."""

    async def send(self, device_id: str, message: Command) -> None:
        """Send `message` to `device_id`; raise AdapterError or LookupError if impossible now."""

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """The ack wait `device_id`'s protocol needs, or None for the site's default."""


@dataclass(frozen=True)
class CommandOutcome:
    """How a command ended: acknowledged (ok or refused) or not acknowledged at all."""

    acked: bool
    ok: bool
    attempts: int
    detail: str = ""


@dataclass
class _Delivery:
    lock_id: str
    command: Command
    outcome: asyncio.Future[CommandOutcome]
    ack: asyncio.Future[Ack] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    attempts: int = 0
    task: asyncio.Task[None] | None = None
    sent_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())


FaultHandler = Callable[[str, Command, CommandOutcome], Awaitable[None]]
# (action, seconds from the first transmission to the lock's ack): the metrics' door command latency.
LatencyObserver = Callable[[str, float], None]


class LockCommander:
    """Sends lock commands, matches acks, resends with backoff and reports what did not get through."""

    def __init__(
        self,
        transport: CommandTransport,
        *,
        ack_timeout_s: float,
        retries: int,
        on_fault: FaultHandler,
        on_acked: FaultHandler,
    ) -> None:
        self._transport = transport
        self._ack_timeout_s = ack_timeout_s
        self._retries = retries
        self._on_fault = on_fault
        self._on_acked = on_acked
        self._pending: dict[str, _Delivery] = {}
        self._by_lock: dict[str, _Delivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False
        self.on_latency: LatencyObserver | None = None

    async def send(self, lock_id: str, command: Command) -> asyncio.Future[CommandOutcome]:
        """Send `command` to `lock_id` now; the returned future resolves when it is acked or has failed.

        The first transmission happens before this returns; waiting for the ack and resending happen in a
        task owned here.
        """
        outcome: asyncio.Future[CommandOutcome] = asyncio.get_running_loop().create_future()
        if self._stopped:
            outcome.cancel()
            return outcome
        older = self._by_lock.get(lock_id)
        if older is not None and older.task is not None:
            older.task.cancel()  # superseded: its outcome is cancelled
        delivery = _Delivery(lock_id, command, outcome)
        self._pending[command.id] = delivery
        self._by_lock[lock_id] = delivery
        first_error = await self._transmit(delivery)
        delivery.task = asyncio.create_task(
            self._follow_up(delivery, first_error), name=f"command-{lock_id}-{command.action}"
        )
        self._tasks.add(delivery.task)
        delivery.task.add_done_callback(lambda task: self._finished(task, delivery))
        return outcome

    def _finished(self, task: asyncio.Task[None], delivery: _Delivery) -> None:
        self._tasks.discard(task)
        self._pending.pop(delivery.command.id, None)
        if self._by_lock.get(delivery.lock_id) is delivery:
            del self._by_lock[delivery.lock_id]
        if not delivery.outcome.done():
            delivery.outcome.cancel()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivering %s failed", task.get_name(), exc_info=task.exception())

    async def _transmit(self, delivery: _Delivery) -> str:
        delivery.attempts += 1
        if delivery.attempts > 1:
            log.warning(
                "no ack from %s for %s %s; resending (attempt %d)",
                delivery.lock_id,
                delivery.command.action,
                delivery.command.id,
                delivery.attempts,
            )
        try:
            await self._transport.send(delivery.lock_id, delivery.command)
        except (AdapterError, LookupError) as err:
            return str(err)
        return ""

    def ack_wait_s(self, lock_id: str) -> float:
        """The first wait for `lock_id`'s ack: the site's timeout, or longer where the lock's protocol needs it."""
        try:
            needed = self._transport.command_ack_timeout_s(lock_id)
        except LookupError:
            needed = None
        return max(self._ack_timeout_s, needed or 0.0)

    async def _follow_up(self, delivery: _Delivery, last_error: str) -> None:
        wait_s = self.ack_wait_s(delivery.lock_id)
        while True:
            try:
                ack = await asyncio.wait_for(asyncio.shield(delivery.ack), wait_s)
            except TimeoutError:
                if delivery.attempts > self._retries:
                    break
                wait_s *= 2
                last_error = await self._transmit(delivery) or last_error
                continue
            outcome = CommandOutcome(True, ack.ok, delivery.attempts, ack.detail)
            if self.on_latency is not None:
                self.on_latency(delivery.command.action, asyncio.get_running_loop().time() - delivery.sent_at)
            delivery.outcome.set_result(outcome)
            if ack.ok:
                await self._on_acked(delivery.lock_id, delivery.command, outcome)
            else:
                await self._on_fault(delivery.lock_id, delivery.command, outcome)
            return
        detail = f"no ack after {delivery.attempts} attempts" + (f" ({last_error})" if last_error else "")
        outcome = CommandOutcome(False, False, delivery.attempts, detail)
        delivery.outcome.set_result(outcome)
        await self._on_fault(delivery.lock_id, delivery.command, outcome)

    def outcome_of(self, command_id: str) -> asyncio.Future[CommandOutcome] | None:
        """The outcome of a command still in flight (resolves once acked, refused or given up), or None."""
        delivery = self._pending.get(command_id)
        return None if delivery is None else delivery.outcome

    def on_ack(self, device_id: str, ack: Ack) -> bool:
        """Match an ack to a command in flight; only the commanded device may ack it."""
        delivery = self._pending.get(ack.id)
        if delivery is None or delivery.lock_id != device_id:
            return False
        if not delivery.ack.done():
            delivery.ack.set_result(ack)
        return True

    async def stop(self) -> None:
        """Stop every delivery."""
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
