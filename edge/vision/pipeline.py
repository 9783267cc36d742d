"""Per-camera pipeline: sample frames, detect objects, save snapshots and emit detection events."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge.vision.annotate import EncodeError, annotated_jpeg
from edge.vision.camera import CameraError, CameraSource, EndOfStream, redact_source
from edge.vision.config import CameraConfig
from edge.vision.detectors.base import Detection, Detector
from edge.vision.events import (
    CATEGORY_BY_LABEL,
    DEFAULT_MIN_INTERVAL_S,
    Category,
    CategoryGate,
    DetectedObject,
    DetectionEvent,
    counts_of,
    detections_by_category,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
OnDetection = Callable[[DetectionEvent], Awaitable[None]]

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
LATEST_INTERVAL_S = 1.0
MAX_CONSECUTIVE_FRAME_ERRORS = 5  # then treat the camera as broken and reconnect with backoff
CLOSE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 5.0
LATEST_NAME = "latest.jpg"


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """A snapshot of a pipeline's health."""

    state: str  # "starting" | "running" | "error: <reason>" | "stopped"
    frames_processed: int
    last_frame_at: datetime | None
    events_emitted: int
    frame_errors: int
    callback_errors: int


@dataclass(frozen=True, slots=True)
class _Frame:
    image: np.ndarray
    detections: list[Detection]
    captured_at: datetime


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a temporary file and os.replace, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)  # no fsync: losing the last snapshot on power cut is acceptable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def snapshot_name(captured_at: datetime, category: Category) -> str:
    """Return '<UTC timestamp>-<category>.jpg', e.g. '20250101T120000.123Z-person.jpg'."""
    utc = captured_at.astimezone(UTC)
    return f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z-{category}.jpg"


class CameraPipeline:
    """Run one camera: capture and inference in an executor, event logic on the loop.

    `start()` creates the pipeline's single task; `stop()` cancels it and closes the capture.
    Camera failures are retried with exponential backoff; frame and callback errors are logged
    and counted but never end the pipeline. A non-looping file that ends stops it.
    """

    def __init__(
        self,
        camera: CameraConfig,
        detector: Detector,
        snapshot_dir: Path,
        on_detection: OnDetection,
        executor: concurrent.futures.Executor | None = None,
        *,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        realtime: bool = True,
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.camera_dir = snapshot_dir / camera.id
        self.realtime = realtime  # pace files to wall-clock time; tests turn it off to run fast
        self._on_detection = on_detection
        self._executor = executor
        self._gate = CategoryGate(min_interval_s)
        self._task: asyncio.Task[None] | None = None
        self._source: CameraSource | None = None
        self._state = "stopped"
        self._backoff = BACKOFF_MIN_S
        self._frames = 0
        self._last_frame_at: datetime | None = None
        self._events = 0
        self._frame_errors = 0
        self._callback_errors = 0
        self._last_latest = -float("inf")

    @property
    def latest_path(self) -> Path:
        """Return where the newest annotated frame is kept."""
        return self.camera_dir / LATEST_NAME

    @property
    def status(self) -> PipelineStatus:
        """Return the current state and counters."""
        return PipelineStatus(
            state=self._state,
            frames_processed=self._frames,
            last_frame_at=self._last_frame_at,
            events_emitted=self._events,
            frame_errors=self._frame_errors,
            callback_errors=self._callback_errors,
        )

    async def start(self) -> None:
        """Start the pipeline's task; a no-op if it is running or the camera is disabled."""
        if self._task is not None and not self._task.done():
            return
        if not self.camera.enabled:
            log.info("camera %s is disabled; not starting", self.camera.id)
            return
        self._state = "starting"
        self._task = asyncio.create_task(self._run(), name=f"camera-pipeline-{self.camera.id}")

    async def stop(self) -> None:
        """Cancel the task, close the capture and wait (bounded) for both."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._source is not None:
            self._source.interrupt()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=STOP_TIMEOUT_S)
        if not done:
            log.warning("camera %s pipeline still running %.0f s after stop", self.camera.id, STOP_TIMEOUT_S)
        self._state = "stopped"

    async def _run(self) -> None:
        """Connect, process frames until the source fails, back off, repeat."""
        while True:
            try:
                if await self._run_connection():
                    self._state = "stopped"
                    return
            except CameraError as err:
                self._state = f"error: {err}"
                log.warning("camera %s: %s; retrying in %.0f s", self.camera.id, err, self._backoff)
            except Exception as err:
                # Supervision point: a bug in one frame's handling must not end the camera for good.
                self._state = f"error: {type(err).__name__}: {err}"
                log.exception("camera %s pipeline failed; retrying in %.0f s", self.camera.id, self._backoff)
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    async def _run_connection(self) -> bool:
        """Open the camera and process frames; return True when a non-looping file ended."""
        source = CameraSource.from_config(self.camera, realtime=self.realtime)
        self._source = source
        try:
            await self._call(source.open)
            self._state = "running"
            await self._call(functools.partial(self.camera_dir.mkdir, parents=True, exist_ok=True))
            consecutive_errors = 0
            while True:
                try:
                    frame = await self._call(self._capture, source)
                except EndOfStream:
                    log.info("camera %s: %s ended", self.camera.id, redact_source(self.camera.source))
                    return True
                except CameraError:
                    raise
                except Exception as err:
                    # Supervision point: one undecodable frame or a detector hiccup is counted, not fatal.
                    self._frame_errors += 1
                    consecutive_errors += 1
                    log.exception("camera %s: frame failed", self.camera.id)
                    if consecutive_errors >= MAX_CONSECUTIVE_FRAME_ERRORS:
                        raise CameraError(f"{consecutive_errors} frames failed in a row: {err}") from err
                    continue
                consecutive_errors = 0
                self._backoff = BACKOFF_MIN_S
                self._frames += 1
                self._last_frame_at = frame.captured_at
                self._state = "running"
                await self._handle_frame(frame)
        finally:
            self._source = None
            await self._close(source)

    def _capture(self, source: CameraSource) -> _Frame:
        """Read the next sampled frame and run the detector on it (executor thread)."""
        image = source.read_sampled()
        captured_at = datetime.now(UTC)
        return _Frame(image, self.detector.detect(image), captured_at)

    async def _handle_frame(self, frame: _Frame) -> None:
        """Apply the event rule, save snapshots when needed and deliver events."""
        grouped = detections_by_category(frame.detections)
        now = time.monotonic()
        due = self._gate.update(counts_of(grouped), now)
        if not due and now - self._last_latest < LATEST_INTERVAL_S:
            return
        self._last_latest = now
        paths = {c: self.camera_dir / snapshot_name(frame.captured_at, c) for c in due}
        # Draw what the events report: merged category boxes, plus any other configured labels.
        shown = [d for dets in grouped.values() for d in dets]
        shown += [d for d in frame.detections if d.label not in CATEGORY_BY_LABEL]
        saved = True
        try:
            await self._call(self._save, frame.image, shown, list(paths.values()))
        except (OSError, EncodeError):
            saved = False
            self._frame_errors += 1
            log.exception("camera %s: cannot save snapshot in %s", self.camera.id, self.camera_dir)
        for category in due:
            event = DetectionEvent(
                camera_id=self.camera.id,
                zone=self.camera.zone,
                category=category,
                count=len(grouped[category]),
                detections=[DetectedObject.from_detection(d) for d in grouped[category]],
                occurred_at=frame.captured_at,
                snapshot_path=paths[category] if saved else None,
            )
            await self._emit(event)

    def _save(self, image: np.ndarray, detections: list[Detection], event_paths: list[Path]) -> None:
        """Annotate and encode the frame once, write event snapshots and latest.jpg (executor thread)."""
        data = annotated_jpeg(image, detections)
        for path in event_paths:
            write_atomic(path, data)
        write_atomic(self.latest_path, data)

    async def _emit(self, event: DetectionEvent) -> None:
        """Deliver one event to the callback, containing its failures."""
        self._events += 1
        try:
            await self._on_detection(event)
        except Exception:
            # Supervision point: a consumer's bug must not stop detection on this camera.
            self._callback_errors += 1
            log.exception("camera %s: on_detection callback failed for %s", self.camera.id, event.category)

    async def _close(self, source: CameraSource) -> None:
        """Release the capture in the executor, bounded so stop() stays prompt."""
        source.interrupt()
        future = asyncio.get_running_loop().run_in_executor(self._executor, source.close)
        done, _ = await asyncio.wait([future], timeout=CLOSE_TIMEOUT_S)
        if not done:
            log.warning("camera %s: capture still closing after %.0f s", self.camera.id, CLOSE_TIMEOUT_S)
            return
        try:
            future.result()
        except Exception:
            # Supervision point: a failed release leaks one capture; log it and carry on shutting down.
            log.exception("camera %s: closing the capture failed", self.camera.id)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
