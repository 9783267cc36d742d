"""Short MP4 clips around detection events, from a bounded per-camera ring buffer of recent frames.

The capture thread `push`es every sampled frame: it is downscaled, JPEG-encoded into the ring buffer
(at most `pre_s` seconds and `max_buffer_bytes`), and, while a clip is open, written to it. On an event
`start` opens a clip in the executor, writes the pre-roll, and the following `post_s` seconds of pushed
frames go into the same file; an event during an open clip extends it (up to `max_clip_s`).

Clips play in real time whatever the push rate: the writer emits `fps` frames per second of frame time,
repeating the previous frame across gaps. The file is written under a hidden name and renamed to
`<clips_dir>/<camera>/<UTC ts>-<event>.mp4` when complete. The codec is MPEG-4 Part 2 (`mp4v`): the
OpenCV 5 wheels cannot encode H.264.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

# A clip whose camera stops delivering frames is closed this long after its planned end (wall time).
STALL_GRACE_S = 5.0
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


class ClipError(Exception):
    """A clip could not be written."""


class ClipConfig(BaseModel):
    """Event clips: how much before and after, at what rate and size, within what memory."""

    model_config = ConfigDict(extra="forbid")

    pre_s: float = Field(default=5.0, ge=0.0, le=60.0, description="Seconds of video kept before an event.")
    post_s: float = Field(default=10.0, gt=0.0, le=300.0, description="Seconds recorded after an event.")
    max_clip_s: float = Field(
        default=60.0, gt=0.0, le=600.0, description="Events during an open clip extend it up to this length."
    )
    fps: float = Field(
        default=5.0, gt=0.0, le=30.0, description="Clip frame rate; frames pushed faster are thinned to it."
    )
    max_width: int | None = Field(
        default=768, ge=64, le=4096, description="Frames wider than this are downscaled; None keeps the size."
    )
    jpeg_quality: int = Field(default=80, ge=20, le=100, description="JPEG quality of buffered frames.")
    max_buffer_bytes: int = Field(
        default=24 * 1024 * 1024,
        ge=64 * 1024,
        description="Upper bound of the ring buffer's JPEG bytes; the oldest frames go first.",
    )


@dataclass(slots=True)
class _Buffered:
    ts: float
    jpeg: bytes


@dataclass(eq=False)
class _OpenClip:
    path: Path
    tmp_path: Path
    event_ids: list[str]
    start_ts: float  # frame time of the first event
    end_ts: float  # frame time after which pushed frames close the clip
    wall_deadline: float  # monotonic time after which the watchdog closes a stalled clip
    done: asyncio.Event
    loop: asyncio.AbstractEventLoop
    lock: threading.Lock = field(default_factory=threading.Lock)
    writer: cv2.VideoWriter | None = None
    size: tuple[int, int] | None = None  # (width, height)
    t0: float | None = None  # frame time of output frame 0
    frames_written: int = 0
    last_frame: np.ndarray | None = None
    finished: bool = False
    failed: bool = False


class ClipRecorder:
    """Keep one camera's recent frames and write event clips from them.

    Thread-safe. `push` is blocking (JPEG encoding, and video encoding while a clip is open): call it
    from the capture thread. `start` and `close` are coroutines that do their file work in the executor.
    """

    def __init__(
        self,
        camera_id: str,
        clips_dir: Path,
        config: ClipConfig | None = None,
        executor: concurrent.futures.Executor | None = None,
        on_saved: Callable[[Path], None] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._on_saved = on_saved  # called on the event loop with each clip's final path (e.g. to upload it)
        self.camera_dir = Path(clips_dir) / camera_id
        self.config = config or ClipConfig()
        self._executor = executor
        self._lock = threading.Lock()  # guards the buffer, _last_ts and _clip; never held during I/O
        self._buffer: deque[_Buffered] = deque()
        self._buffer_bytes = 0
        self._last_ts: float | None = None
        self._clip: _OpenClip | None = None
        self._watchdogs: set[asyncio.Task[None]] = set()
        self.clips_written = 0
        self.clips_failed = 0

    @property
    def buffered(self) -> tuple[int, int]:
        """Return (frames, bytes) held in the ring buffer."""
        with self._lock:
            return len(self._buffer), self._buffer_bytes

    def push(self, frame_bgr: np.ndarray, captured_at: datetime) -> None:
        """Buffer a frame captured at `captured_at` and add it to the open clip, if any."""
        ts = captured_at.timestamp()
        with self._lock:
            if self._last_ts is not None and ts - self._last_ts < 0.9 / self.config.fps:
                return  # thinned to the clip rate (also drops frames whose clock went backwards)
            self._last_ts = ts
        small = self._downscale(frame_bgr)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise ClipError(f"cannot JPEG-encode a frame of shape {small.shape}")
        finishing: _OpenClip | None = None
        with self._lock:
            self._append(_Buffered(ts, buf.tobytes()))
            clip = self._clip
            if clip is not None and ts > clip.end_ts:
                self._clip, finishing, clip = None, clip, None
        if clip is not None:
            with clip.lock:
                self._write(clip, small, ts)
        if finishing is not None:
            with finishing.lock:
                self._finish(finishing, finishing.end_ts)

    async def start(self, event_id: str, at: datetime | None = None) -> Path:
        """Open (or extend) the clip for an event at `at` (default: the newest frame); return its final path."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        at_ts = at.timestamp() if at is not None else None
        clip, is_new = await loop.run_in_executor(self._executor, self._open, event_id, at_ts, done, loop)
        if is_new:
            task = asyncio.create_task(self._watch(clip), name=f"clip-watchdog-{self.camera_id}")
            self._watchdogs.add(task)
            task.add_done_callback(self._watchdogs.discard)
        return clip.path

    async def close(self) -> None:
        """Finish any open clip and stop the watchdogs."""
        tasks = list(self._watchdogs)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_open_clip, None)

    # ------------------------------------------------------------------------------------ internals

    def _append(self, item: _Buffered) -> None:
        """Add a frame to the ring buffer and evict by age and bytes (caller holds the lock)."""
        self._buffer.append(item)
        self._buffer_bytes += len(item.jpeg)
        horizon = item.ts - self.config.pre_s
        while self._buffer and (
            self._buffer[0].ts < horizon
            or (self._buffer_bytes > self.config.max_buffer_bytes and len(self._buffer) > 1)
        ):
            self._buffer_bytes -= len(self._buffer.popleft().jpeg)

    def _downscale(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Return the frame no wider than max_width, with even sides (the MPEG-4 encoder needs them)."""
        h, w = frame_bgr.shape[:2]
        scale = 1.0
        if self.config.max_width is not None and w > self.config.max_width:
            scale = self.config.max_width / w
        new_w, new_h = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
        if (new_w, new_h) == (w, h):
            return frame_bgr
        return cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)

    def _open(
        self, event_id: str, at_ts: float | None, done: asyncio.Event, loop: asyncio.AbstractEventLoop
    ) -> tuple[_OpenClip, bool]:
        """Extend the open clip, or create one and write its pre-roll (executor thread)."""
        with self._lock:
            if at_ts is None:
                at_ts = self._buffer[-1].ts if self._buffer else time.time()
            clip = self._clip
            if clip is not None:
                new_end = min(clip.start_ts + self.config.max_clip_s, at_ts + self.config.post_s)
                if new_end > clip.end_ts:
                    clip.wall_deadline += new_end - clip.end_ts
                    clip.end_ts = new_end
                clip.event_ids.append(event_id)
                return clip, False
            pre_roll = [b for b in self._buffer if b.ts >= at_ts - self.config.pre_s]
            name = f"{_stamp(at_ts)}-{_safe(event_id)}.mp4"
            clip = _OpenClip(
                path=self.camera_dir / name,
                tmp_path=self.camera_dir / f".{name}",
                event_ids=[event_id],
                start_ts=at_ts,
                end_ts=at_ts + self.config.post_s,
                wall_deadline=time.monotonic() + self.config.post_s + STALL_GRACE_S,
                done=done,
                loop=loop,
            )
            self._clip = clip
            # Taken before the buffer lock is released, so no post-roll frame is written before the pre-roll.
            clip.lock.acquire()
        try:
            for item in pre_roll:
                frame = cv2.imdecode(np.frombuffer(item.jpeg, np.uint8), cv2.IMREAD_COLOR)
                if frame is None:
                    clip.failed = True
                    log.error("camera %s: a buffered frame does not decode", self.camera_id)
                    break
                self._write(clip, frame, item.ts)
            if clip.failed:
                with self._lock:
                    if self._clip is clip:
                        self._clip = None
                self._finish(clip, None)
                raise ClipError(f"cannot write clip {clip.tmp_path}")
        finally:
            clip.lock.release()
        log.info("camera %s: recording clip %s (%d pre-roll frames)", self.camera_id, clip.path.name, len(pre_roll))
        return clip, True

    def _write(self, clip: _OpenClip, frame: np.ndarray, ts: float) -> None:
        """Write a frame at frame time ts, repeating the previous one across a gap (caller holds clip.lock)."""
        if clip.finished or clip.failed:
            return
        try:
            if clip.writer is None:
                h, w = frame.shape[:2]
                clip.size, clip.t0 = (w, h), ts
                clip.writer = self._open_writer(clip.tmp_path, (w, h))
            assert clip.size is not None and clip.t0 is not None
            if (frame.shape[1], frame.shape[0]) != clip.size:
                frame = cv2.resize(frame, clip.size, interpolation=cv2.INTER_AREA)
            slot = round((ts - clip.t0) * self.config.fps)
            while clip.last_frame is not None and clip.frames_written < slot:
                clip.writer.write(clip.last_frame)
                clip.frames_written += 1
            if clip.frames_written <= slot:
                clip.writer.write(frame)
                clip.frames_written += 1
            clip.last_frame = frame
        except (cv2.error, OSError, ClipError) as err:
            clip.failed = True
            log.error("camera %s: clip %s failed: %s", self.camera_id, clip.path.name, err)

    def _open_writer(self, path: Path, size: tuple[int, int]) -> cv2.VideoWriter:
        path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, fourcc, float(self.config.fps), size)
        if not writer.isOpened():
            raise ClipError(f"OpenCV cannot open an mp4v writer for {path} at {size[0]}x{size[1]}")
        return writer

    def _close_open_clip(self, only: _OpenClip | None) -> None:
        """Detach the open clip (or only that one) and finish it without padding (executor thread)."""
        with self._lock:
            if only is None or self._clip is only:
                clip, self._clip = self._clip, None
            else:
                clip = only  # already detached by a push that is finishing it
        if clip is not None:
            with clip.lock:
                self._finish(clip, None)

    def _finish(self, clip: _OpenClip, until_ts: float | None) -> None:
        """Pad to until_ts, close the file and rename it into place (caller holds clip.lock)."""
        if clip.finished:
            return
        clip.finished = True
        try:
            if clip.writer is not None and not clip.failed and until_ts is not None and clip.last_frame is not None:
                self._write(clip, clip.last_frame, until_ts)
            if clip.writer is not None:
                clip.writer.release()
            if clip.failed or clip.frames_written == 0:
                clip.tmp_path.unlink(missing_ok=True)
                self.clips_failed += 1
                log.warning("camera %s: clip %s not saved", self.camera_id, clip.path.name)
            else:
                os.replace(clip.tmp_path, clip.path)
                self.clips_written += 1
                if self._on_saved is not None:
                    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody uploads any more
                        clip.loop.call_soon_threadsafe(self._on_saved, clip.path)
                log.info(
                    "camera %s: saved clip %s (%d frames, events %s)",
                    self.camera_id,
                    clip.path.name,
                    clip.frames_written,
                    ", ".join(clip.event_ids),
                )
        except OSError as err:
            self.clips_failed += 1
            log.error("camera %s: cannot save clip %s: %s", self.camera_id, clip.path.name, err)
        finally:
            clip.writer = None
            clip.last_frame = None
            try:
                clip.loop.call_soon_threadsafe(clip.done.set)
            except RuntimeError:
                pass  # the loop is closed: nobody waits on this clip any more

    async def _watch(self, clip: _OpenClip) -> None:
        """Close the clip if its camera stops delivering frames past the planned end."""
        while not clip.done.is_set():
            remaining = clip.wall_deadline - time.monotonic()
            if remaining <= 0:
                log.warning("camera %s: no frames for clip %s; closing it", self.camera_id, clip.path.name)
                await asyncio.get_running_loop().run_in_executor(self._executor, self._close_open_clip, clip)
                return
            try:
                await asyncio.wait_for(clip.done.wait(), remaining)
            except TimeoutError:
                continue


def _stamp(ts: float) -> str:
    """Return a UTC file-name timestamp like the snapshots': 20250101T120000.123Z."""
    utc = datetime.fromtimestamp(ts, UTC)
    return f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z"


def _safe(event_id: str) -> str:
    """Return the event id reduced to file-name-safe characters."""
    return _UNSAFE_NAME_CHARS.sub("_", event_id)[:64] or "event"
