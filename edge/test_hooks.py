"""Hooks that only tests switch on (by environment variable), to reproduce faults in a real edge process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from edge.service_notify import SystemdNotifier

WEDGE_FIFO_ENV = "OUTPOST_EDGE_TEST_WEDGE_FIFO"


def install_wedge_hook(loop: asyncio.AbstractEventLoop, notifier: SystemdNotifier | None) -> None:
    """With $OUTPOST_EDGE_TEST_WEDGE_FIFO set, SIGUSR2 blocks the event loop until a line is written to that FIFO.

    It proves the systemd watchdog stops being fed while the loop is wedged (tests/edge/test_systemd_notify.py).
    Never set in production: without the variable this does nothing.
    """
    fifo = os.environ.get(WEDGE_FIFO_ENV)
    if not fifo:
        return

    def wedge() -> None:
        if notifier is not None:
            notifier.send("STATUS=wedged by the test hook")
        with Path(fifo).open() as handle:  # blocks the loop's thread: exactly the fault under test
            handle.readline()
        if notifier is not None:
            notifier.send("STATUS=released by the test hook")

    loop.add_signal_handler(signal.SIGUSR2, wedge)
