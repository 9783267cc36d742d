"""The real edge process under a stand-in for systemd: a unix datagram socket as $NOTIFY_SOCKET.

READY=1 arrives only once the console and the broker answer; WATCHDOG=1 keeps coming while the loop runs; a loop
wedged by the test hook stops feeding the watchdog until it is released.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tomli_w

from edge.service_notify import SystemdNotifier, watchdog_interval_s
from edge.test_hooks import WEDGE_FIFO_ENV
from tests.edge.site import site_config_dict
from tests.net import free_port

WATCHDOG_USEC = 600_000  # fed every 0.3 s


class NotifySocket:
    """The service manager's end: collects every datagram the edge sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    async def next(self, timeout_s: float) -> list[str]:
        """The next datagram's lines."""
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 4096), timeout_s)
        return data.decode().split("\n")

    async def until(self, line: str, timeout_s: float = 60) -> list[list[str]]:
        """Every datagram up to and including the first with `line`."""
        seen = []
        while True:
            seen.append(await self.next(timeout_s))
            if line in seen[-1]:
                return seen


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture
async def notify(tmp_path: Path) -> AsyncIterator[NotifySocket]:
    manager = NotifySocket(tmp_path / "notify.sock")
    yield manager
    manager.sock.close()


async def test_ready_after_ports_answer_watchdog_fed_until_the_loop_wedges(
    tmp_path: Path, notify: NotifySocket
) -> None:
    web_port, mqtt_port = free_port(), free_port()
    config = site_config_dict(tmp_path / "data")
    config["web"]["port"] = web_port
    config["mqtt"]["port"] = mqtt_port
    config_path = tmp_path / "edge.toml"
    config_path.write_text(tomli_w.dumps(config))
    config_path.chmod(0o600)
    fifo = tmp_path / "wedge.fifo"
    os.mkfifo(fifo)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge.cli",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "NOTIFY_SOCKET": str(notify.path),
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            WEDGE_FIFO_ENV: str(fifo),
        },
    )
    try:
        first = await notify.next(60)
        assert "READY=1" in first, first  # nothing before READY
        # At the moment READY arrives, both ports already answer.
        assert _answers(web_port) and _answers(mqtt_port)
        for _ in range(3):
            assert await notify.next(5) == ["WATCHDOG=1"]

        proc.send_signal(signal.SIGUSR2)
        await notify.until("STATUS=wedged by the test hook", 5)
        # Three whole watchdog periods without a datagram: systemd would have restarted the unit by now.
        with pytest.raises(TimeoutError):
            await notify.next(3 * WATCHDOG_USEC / 1_000_000)
        assert proc.returncode is None  # wedged, not dead
        fifo.write_text("release\n")  # noqa: ASYNC240 - the FIFO's reader is the other process
        released = await notify.until("STATUS=released by the test hook", 5)
        assert not any("WATCHDOG=1" in d for d in released)
        assert await notify.next(5) == ["WATCHDOG=1"]  # fed again once the loop runs
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 45)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert await notify.until("STOPPING=1", 1)


def test_no_socket_no_notifier_and_watchdog_meant_for_another_process() -> None:
    assert SystemdNotifier.from_environ({}) is None
    assert SystemdNotifier.from_environ({"NOTIFY_SOCKET": "relative"}) is None
    abstract = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "@outpost-test"})
    assert abstract is not None and abstract.address == "\0outpost-test"
    abstract.close()
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 15.0
