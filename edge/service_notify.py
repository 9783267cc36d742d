"""systemd service notifications (the sd_notify datagram protocol): READY=1 once serving, WATCHDOG=1 while healthy.

`outpost-edge.service` is `Type=notify` with `WatchdogSec=`: systemd counts the edge as started only when it sends
READY=1 (after the broker, the database and the web answer), and restarts it when no WATCHDOG=1 arrives within
`WatchdogSec`. The watchdog is fed from a task on the event loop, so a wedged loop stops feeding it; a failing
component stops it too. Outside systemd (no NOTIFY_SOCKET) nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]


class SystemdNotifier:
    """Sends sd_notify datagrams to the socket systemd named in $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        # A leading '@' is Linux's abstract namespace (a NUL byte on the wire).
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier | None:
        """The notifier of the service manager that started this process, or None when there is none."""
        address = environ.get("NOTIFY_SOCKET", "")
        return cls(address) if address.startswith(("/", "@")) else None

    def send(self, *states: str) -> bool:
        """Send `KEY=value` lines in one datagram; False (logged) if the manager is gone."""
        try:
            self._sock.sendto("\n".join(states).encode(), self.address)
        except OSError as err:
            log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), err)
            return False
        return True

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


def watchdog_interval_s(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """How often to feed the watchdog (half of $WATCHDOG_USEC), or None when systemd does not watch this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watched_pid = environ.get("WATCHDOG_PID", "")
    if watched_pid and watched_pid != str(os.getpid() if pid is None else pid):
        return None  # the variable was meant for another process (e.g. inherited by a child)
    return int(usec) / 2_000_000


class Watchdog:
    """Feeds systemd's watchdog every `interval_s` while `health` reports every component healthy."""

    def __init__(self, notifier: SystemdNotifier, interval_s: float, health: HealthCheck) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self._health = health
        self._task: asyncio.Task[None] | None = None
        self._unhealthy: tuple[str, ...] = ()

    def start(self) -> None:
        """Start feeding (owned task, cancelled by stop)."""
        self._task = asyncio.create_task(self._run(), name="systemd-watchdog")

    async def stop(self) -> None:
        """Stop feeding."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.interval_s):
                    checks = await self._health()
            except TimeoutError:
                checks = {"health check": False}
            failing = tuple(name for name, ok in checks.items() if not ok)
            if not failing:
                self.notifier.send("WATCHDOG=1")
                if self._unhealthy:
                    log.info("components healthy again: feeding the systemd watchdog")
                    self.notifier.send("STATUS=running")
            elif failing != self._unhealthy:
                # Not fed: systemd restarts the service after WatchdogSec unless the component recovers first.
                log.error("not feeding the systemd watchdog: %s not healthy", ", ".join(failing))
                self.notifier.send(f"STATUS=unhealthy: {', '.join(failing)}")
            self._unhealthy = failing
            await asyncio.sleep(self.interval_s)
