"""Time every event-loop callback so a test that blocks the loop can be failed, naming where it blocked."""

from __future__ import annotations

import asyncio.events
import os
import sys
import threading
import time
import traceback
from typing import Any

# On an idle machine: long enough for an honest step (argon2-hashing a few broker accounts takes ~0.5 s), short
# enough that a sync wait for something the loop itself must do (a PUBACK from the in-process broker, a thread
# join, a subprocess talking to the broker) trips it. Scaled up by the machine's load (see `block_limit_s`).
BLOCK_LIMIT_S = float(os.environ.get("OUTPOST_TEST_LOOP_BLOCK_LIMIT_S", "3.0"))
# A callback running this long has its stack sampled from a watchdog thread: that names the blocking line.
SAMPLE_AFTER_S = 0.5


class LoopBlockWatch:
    """Remembers the longest single callback (task step, timer, I/O callback) since the last `reset`, and where
    the loop's thread was while it ran."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self.worst = ""
        self.thread: int | None = None  # the thread whose loop is watched
        self._original: Any = None
        self._running: tuple[int, float] | None = None  # (thread id, start) of the callback running now
        self._sample = ""
        self._lock = threading.Lock()

    def install(self) -> None:
        """Wrap `asyncio.events.Handle._run`, through which the standard loops run every callback."""
        if self._original is not None:
            return
        original = asyncio.events.Handle._run
        self._original = original
        watch = self

        def _run(handle: asyncio.events.Handle) -> None:
            if threading.get_ident() != watch.thread:  # another thread's loop (asyncio.run in a worker): not ours
                original(handle)
                return
            started = time.monotonic()
            with watch._lock:
                watch._running, watch._sample = (threading.get_ident(), started), ""
            try:
                original(handle)
            finally:
                took = time.monotonic() - started
                with watch._lock:
                    watch._running = None
                    sample = watch._sample
                if took > watch.worst_s:
                    watch.worst_s = took
                    watch.worst = f"{handle!r}{sample}" if took > SAMPLE_AFTER_S else ""

        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]
        threading.Thread(target=self._watchdog, name="loop-block-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        while True:
            time.sleep(SAMPLE_AFTER_S / 5)
            with self._lock:
                running = self._running
                if running is None or self._sample or time.monotonic() - running[1] < SAMPLE_AFTER_S:
                    continue
                frame = sys._current_frames().get(running[0])
                if frame is not None:
                    stack = traceback.extract_stack(frame)
                    # What ran inside the callback: the frames after the event loop's (and this module's) own.
                    loop_frames = [i for i, f in enumerate(stack) if _machinery(f.filename)]
                    inside = stack[loop_frames[-1] + 1 :] if loop_frames else stack
                    self._sample = "\n  blocked at:\n" + "".join(traceback.format_list(inside[-8:]))

    def reset(self) -> None:
        """Forget what was seen so far; watch the calling thread's loop from now on."""
        self.thread = threading.get_ident()
        self.worst_s = 0.0
        self.worst = ""


def block_limit_s() -> float:
    """BLOCK_LIMIT_S stretched by how oversubscribed the CPUs are: with a 1-minute load of 12 on 2 cores an honest
    CPU-bound step takes ~6 times as long (argon2 hashing at startup was seen at 3.7 s)."""
    return BLOCK_LIMIT_S * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _machinery(filename: str) -> bool:
    """The event loop's own frames and this module's: not where a test or component blocked."""
    return filename == __file__ or filename.startswith(os.path.dirname(asyncio.events.__file__))


WATCH = LoopBlockWatch()
