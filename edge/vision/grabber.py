"""One capture thread per camera, handing sampled frames to the event loop.

Each camera decodes on its own thread, so a stream stuck in a network read (up to its timeout) never
holds a worker that another camera's inference needs, and decoding the next frame overlaps inference on
the current one. Live sources are lossy (a slot of `depth` frames; the oldest is dropped when inference
falls behind, so latency stays bounded); files processed faster than real time are lossless (the thread
waits for room), so every sampled frame is analysed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from edge.vision.camera import CameraError, CameraSource

log = logging.getLogger(__name__)

DEFAULT_DEPTH = 2


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A frame with its media time (seconds, see CameraSource.position_s) and capture time.

    For live sources `captured_at` is the wall clock when it was read; for files, the wall clock of the
    first frame plus the media time since, so durations agree with the video at any processing speed.
    """

    image: np.ndarray
    position_s: float
    captured_at: datetime
    index: int  # frames delivered by this grabber so far, from 0


class FrameGrabber:
    """Run `source.read_sampled()` on a daemon thread and deliver frames (or the error that ended it).

    `get()` is awaited on the loop that called `start()`. The thread owns the source and closes it when
    it exits; `stop()` interrupts it and waits, bounded.
    """

    def __init__(self, source: CameraSource, *, lossless: bool, depth: int = DEFAULT_DEPTH, name: str = "") -> None:
        self.source = source
        self.lossless = lossless
        self.dropped = 0
        self._items: deque[SampledFrame | BaseException] = deque()
        self._depth = depth
        self._cond = threading.Condition()
        self._stopping = False
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)

    def start(self) -> None:
        """Start the capture thread (call on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    async def get(self) -> SampledFrame:
        """Return the next frame; raise the CameraError (or EndOfStream) that stopped the capture."""
        while True:
            self._ready.clear()
            with self._cond:
                if self._items:
                    item = self._items.popleft()
                    self._cond.notify_all()
                    break
            await self._ready.wait()
        if isinstance(item, BaseException):
            raise item
        return item

    async def stop(self, timeout_s: float) -> bool:
        """Interrupt the capture and wait up to timeout_s for the thread to close the source; return if it did."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.source.interrupt()
        if not self._thread.is_alive():
            return True
        loop = asyncio.get_running_loop()
        # join() blocks, so it waits on a short-lived helper thread rather than on the loop.
        await asyncio.wait([loop.run_in_executor(None, self._thread.join, timeout_s)], timeout=timeout_s + 1)
        return not self._thread.is_alive()

    def _run(self) -> None:
        index = 0
        origin: tuple[datetime, float] | None = None  # wall time and position of a file's first frame
        try:
            while True:
                try:
                    image = self.source.read_sampled()
                except CameraError as err:
                    self._deliver(err)
                    return
                except Exception as err:
                    # Supervision point: an unexpected decoder failure ends this connection like a camera
                    # error would (the pipeline reconnects with backoff); it must not kill the thread silently.
                    log.exception("capture thread for %s failed", self.source.source)
                    self._deliver(CameraError(f"capture failed: {type(err).__name__}: {err}"))
                    return
                position = self.source.position_s
                if self.source.is_stream:
                    captured_at = datetime.now(UTC)
                else:
                    # A file's frames are stamped by their position, so times and durations in events agree
                    # with the video whether it is analysed in real time or faster.
                    if origin is None:
                        origin = (datetime.now(UTC), position)
                    captured_at = origin[0] + timedelta(seconds=position - origin[1])
                frame = SampledFrame(image, position, captured_at, index)
                index += 1
                if not self._deliver(frame):
                    return
        finally:
            self.source.close()

    def _deliver(self, item: SampledFrame | BaseException) -> bool:
        """Queue an item for the loop; return False when stopping."""
        with self._cond:
            if self.lossless:
                while len(self._items) >= self._depth and not self._stopping:
                    self._cond.wait()
            elif len(self._items) >= self._depth and isinstance(item, SampledFrame):
                self._items.popleft()
                self.dropped += 1
            if self._stopping:
                return False
            self._items.append(item)
        loop = self._loop
        assert loop is not None
        try:
            loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:
            return False  # the loop is closed: nobody is listening any more
        return True
