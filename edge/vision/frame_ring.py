"""A camera's recent sampled frames, JPEG-encoded in a bounded ring, to look up the frame of a past moment.

Door decisions and alarms are linked to the frame nearest the moment they happened (the badge time), not the
newest frame when the record is written. The capture path `push`es every sampled frame; `nearest(at)` returns
the buffered frame closest in capture time. Memory is bounded by age (`seconds`) and by JPEG bytes.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class FrameSink(Protocol):
    """Something the capture path hands every sampled frame to (blocking; runs in the executor)."""

    def push(self, frame_bgr: np.ndarray, captured_at: datetime) -> None:
        """Take a frame captured at `captured_at`."""


class FrameRingConfig(BaseModel):
    """How much recent video a door camera keeps for linking decisions to frames."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=15.0, gt=0.0, le=120.0, description="Seconds of sampled frames kept.")
    max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=64 * 1024, description="Upper bound of the kept JPEG bytes; oldest go first."
    )
    jpeg_quality: int = Field(default=85, ge=20, le=100, description="JPEG quality of kept frames.")
    thumbnail_width: int = Field(default=160, ge=32, le=640, description="Width of door-event thumbnails.")


@dataclass(frozen=True, slots=True)
class RingFrame:
    """One kept frame: its capture time (UTC epoch seconds) and JPEG bytes."""

    ts: float
    jpeg: bytes

    @property
    def captured_at(self) -> datetime:
        """The capture time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.ts, UTC)


class FrameRing:
    """One camera's recent frames (thread-safe: `push` from the capture path, lookups from the event loop)."""

    def __init__(self, camera_id: str, config: FrameRingConfig | None = None) -> None:
        self.camera_id = camera_id
        self.config = config or FrameRingConfig()
        self._lock = threading.Lock()
        self._frames: deque[RingFrame] = deque()
        self._bytes = 0
        self._pushed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters = 0

    @property
    def buffered(self) -> tuple[int, int]:
        """Return (frames, bytes) held."""
        with self._lock:
            return len(self._frames), self._bytes

    def push(self, frame_bgr: np.ndarray, captured_at: datetime) -> None:
        """JPEG-encode and keep a frame captured at `captured_at`; evict by age and bytes (blocking)."""
        ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            return
        item = RingFrame(captured_at.timestamp(), buf.tobytes())
        with self._lock:
            if self._frames and item.ts <= self._frames[-1].ts:
                return  # the clock went backwards (or a duplicate): keep the ring ordered
            self._frames.append(item)
            self._bytes += len(item.jpeg)
            horizon = item.ts - self.config.seconds
            while self._frames and (
                self._frames[0].ts < horizon or (self._bytes > self.config.max_bytes and len(self._frames) > 1)
            ):
                self._bytes -= len(self._frames.popleft().jpeg)
            loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._pushed.set)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more

    def nearest(self, at: datetime) -> RingFrame | None:
        """Return the kept frame whose capture time is closest to `at` (None when the ring is empty)."""
        ts = at.timestamp()
        with self._lock:
            frames = list(self._frames)
        if not frames:
            return None
        i = bisect.bisect_left([f.ts for f in frames], ts)
        candidates = frames[max(0, i - 1) : i + 1]
        return min(candidates, key=lambda f: abs(f.ts - ts))

    def newest_ts(self) -> float | None:
        """Return the newest kept frame's capture time (epoch seconds)."""
        with self._lock:
            return self._frames[-1].ts if self._frames else None

    async def frame_at(self, at: datetime, wait_s: float) -> RingFrame | None:
        """Return the frame nearest `at`, first waiting up to `wait_s` for a frame captured at or after it.

        A decision is usually journaled before the camera samples its next frame; waiting for that frame
        lets the nearest one be the closer of the two around the moment.
        """
        self._loop = asyncio.get_running_loop()
        deadline = self._loop.time() + wait_s
        while (newest := self.newest_ts()) is None or newest < at.timestamp():
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            self._pushed.clear()
            try:
                await asyncio.wait_for(self._pushed.wait(), remaining)
            except TimeoutError:
                break
        return self.nearest(at)

    def thumbnail(self, jpeg: bytes) -> bytes | None:
        """Return a small JPEG of a kept frame (thumbnail_width wide), or None if it does not decode."""
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        h, w = image.shape[:2]
        width = min(w, self.config.thumbnail_width)
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
        return buf.tobytes() if ok else None
