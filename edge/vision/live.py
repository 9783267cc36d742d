"""Live annotated frames for viewers (the console's MJPEG view), encoded only while someone watches."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging

from edge.vision.analyzer import FrameResult
from edge.vision.annotate import annotated_jpeg
from edge.vision.pipeline import track_detection

log = logging.getLogger(__name__)
MAX_VIEWERS = 4


class TooManyViewers(Exception):
    """The camera already has its maximum number of live viewers."""


class LiveFeed:
    """Fans out JPEGs of a camera's analysed frames to viewer queues.

    `on_frame` is the pipeline's per-frame hook (called on the event loop): with no viewer it returns at
    once; otherwise the frame is annotated and encoded in the executor, skipping frames while an encode is
    in flight, so a slow viewer or a busy CPU costs frames, never detection time. Each viewer queue holds one
    frame: a viewer that falls behind sees the newest frame, not a backlog.
    """

    def __init__(self, camera_id: str, executor: concurrent.futures.Executor | None = None) -> None:
        self.camera_id = camera_id
        self._executor = executor
        self._viewers: set[asyncio.Queue[bytes | None]] = set()
        self._encoding: asyncio.Task[None] | None = None
        self.frames_sent = 0

    @property
    def viewers(self) -> int:
        """Number of connected viewers."""
        return len(self._viewers)

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        """Register a viewer; its queue yields JPEG bytes, then None when the feed closes."""
        if len(self._viewers) >= MAX_VIEWERS:
            raise TooManyViewers(self.camera_id)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        self._viewers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        """Remove a viewer."""
        self._viewers.discard(queue)

    def on_frame(self, result: FrameResult) -> None:
        """Pipeline hook: encode this frame for the viewers unless nobody watches or an encode is running."""
        if not self._viewers or (self._encoding is not None and not self._encoding.done()):
            return
        self._encoding = asyncio.get_running_loop().create_task(self._encode(result), name=f"live-{self.camera_id}")

    async def _encode(self, result: FrameResult) -> None:
        shown = [track_detection(t) for t in result.tracks]
        captions = [f"{t.label} #{t.id}" for t in result.tracks]
        loop = asyncio.get_running_loop()
        try:
            jpeg = await loop.run_in_executor(self._executor, annotated_jpeg, result.frame.image, shown, captions)
        except Exception:  # supervision point: a failed encode costs one live frame, nothing else
            log.exception("camera %s: live frame encoding failed", self.camera_id)
            return
        for queue in list(self._viewers):
            self._offer(queue, jpeg)
        self.frames_sent += 1

    @staticmethod
    def _offer(queue: asyncio.Queue[bytes | None], item: bytes | None) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            if queue.full():
                queue.get_nowait()
        queue.put_nowait(item)

    async def close(self) -> None:
        """End every viewer's stream and wait for a running encode."""
        for queue in list(self._viewers):
            self._offer(queue, None)
        self._viewers.clear()
        if self._encoding is not None:
            await asyncio.gather(self._encoding, return_exceptions=True)
