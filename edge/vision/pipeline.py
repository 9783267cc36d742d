"""Per-camera pipeline: capture thread -> gated detection (executor) -> tracks, zones, events, snapshots.

Capture runs on the camera's own thread (`FrameGrabber`), inference in the shared executor, tracking and
event logic on the event loop. Two event streams leave it:
- `on_track_event(TrackEvent)`: one object's life (started / ended with dwell and best snapshot) and what
  it did in zones and on lines;
- `on_detection(DetectionEvent)`: the number of tracked objects per category changed (appearance or
  count change, rate-limited by `CategoryGate`), as before tracking existed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge.vision.analyzer import CameraAnalyzer, FrameResult
from edge.vision.annotate import EncodeError, annotated_jpeg, decode_jpeg, encode_jpeg
from edge.vision.camera import CameraError, CameraSource, EndOfStream, redact_source
from edge.vision.clips import ClipError, ClipRecorder
from edge.vision.config import CameraConfig
from edge.vision.detectors.base import Detection, Detector
from edge.vision.events import (
    CATEGORIES,
    DEFAULT_MIN_INTERVAL_S,
    Category,
    CategoryGate,
    DetectedObject,
    DetectionEvent,
    TrackEvent,
    TrackEventKind,
)
from edge.vision.frame_ring import FrameSink
from edge.vision.grabber import FrameGrabber, SampledFrame
from edge.vision.plates import PlateRead, PlateReader
from edge.vision.tracking import Track
from edge.vision.zones import RegionEvent

__all__ = ["CameraPipeline", "DetectionEvent", "OnDetection", "OnFrame", "OnTrackEvent", "PipelineStatus"]

log = logging.getLogger(__name__)

T = TypeVar("T")
OnDetection = Callable[[DetectionEvent], Awaitable[None]]
OnTrackEvent = Callable[[TrackEvent], Awaitable[None]]
OnFrame = Callable[[FrameResult], None]
OnPlate = Callable[[str, PlateRead, datetime], Awaitable[object]]  # camera id, read, frame capture time

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
LATEST_INTERVAL_S = 1.0
MAX_CONSECUTIVE_FRAME_ERRORS = 5  # then treat the camera as broken and reconnect with backoff
CLOSE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 5.0
LATEST_NAME = "latest.jpg"
HELD_JPEG_QUALITY = 92  # best frames of live tracks, held for their snapshots (annotated and encoded again then)


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """A snapshot of a pipeline's health."""

    state: str  # "starting" | "running" | "error: <reason>" (retrying with backoff) | "stopped"
    frames_processed: int
    last_frame_at: datetime | None
    events_emitted: int
    frame_errors: int
    callback_errors: int
    detector_runs: int = 0  # frames the detector ran on (the rest were skipped by motion gating)
    tracks_active: int = 0  # confirmed tracks now
    reconnects: int = 0  # connection failures so far
    last_error: str | None = None  # the latest connection failure, kept after recovery
    retry_at: datetime | None = None  # when the next connection attempt is due, while in error
    frames_dropped: int = 0  # live frames dropped because analysis fell behind


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


def snapshot_name(captured_at: datetime, category: Category, track_id: int | None = None) -> str:
    """Return '<UTC timestamp>-<category>[-t<id>].jpg', e.g. '20250101T120000.123Z-person-t7.jpg'."""
    utc = captured_at.astimezone(UTC)
    suffix = f"-t{track_id}" if track_id is not None else ""
    return f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z-{category}{suffix}.jpg"


def track_detection(track: Track, *, best: bool = False, at: float | None = None) -> Detection:
    """Return a track's latest (or best) box as a Detection, for drawing and count events.

    With `at` (a media time), the latest box is predicted to it: between detector runs a track coasts at
    constant velocity, so a frame the detector skipped shows where the object is now, not where it was.
    """
    if best:
        x1, y1, x2, y2 = track.best_box
    else:
        x1, y1, x2, y2 = track.box if at is None else track.predict(at)
    score = track.best_score if best else track.score
    return Detection(track.label, -1, score, x1, y1, x2, y2)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    path: Path
    image: np.ndarray | bytes  # a frame, or a track's best frame held as JPEG
    detections: list[Detection]
    captions: list[str]


class CameraPipeline:
    """Run one camera: capture on its own thread, inference in an executor, event logic on the loop.

    `start()` creates the pipeline's single task; `stop()` cancels it, ends the live tracks (emitting
    their `track_ended`) and closes the capture. Camera failures are retried with exponential backoff
    (state "error: ..." meanwhile); frame and callback errors are logged and counted but never end the
    pipeline. A non-looping file that ends stops it.
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
        on_track_event: OnTrackEvent | None = None,
        count_events: bool = True,
        on_frame: OnFrame | None = None,
        clips: ClipRecorder | None = None,
        plates: PlateReader | None = None,
        frame_sinks: Sequence[FrameSink] = (),
        on_plate: OnPlate | None = None,
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.camera_dir = snapshot_dir / camera.id
        self.realtime = realtime  # pace files to wall-clock time; tests and benchmarks turn it off
        self.analyzer = CameraAnalyzer(camera, detector)
        self._on_detection = on_detection
        self._on_track_event = on_track_event
        self._count_events = count_events
        self._on_frame = on_frame
        self._clips = clips
        self._frame_sinks = list(frame_sinks)  # e.g. door cameras' frame rings and alarm clips
        self._plates = plates
        self._on_plate = on_plate  # vehicle gates: every frame's plate reads, not only a new track's
        self._executor = executor
        self._gate = CategoryGate(min_interval_s)
        self._task: asyncio.Task[None] | None = None
        self._grabber: FrameGrabber | None = None
        self._state = "stopped"
        self._backoff = BACKOFF_MIN_S
        self._frames = 0
        self._last_frame_at: datetime | None = None
        self._events = 0
        self._frame_errors = 0
        self._save_problem: str | None = None  # why the last snapshots could not be saved, until some are
        self._callback_errors = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._retry_at: datetime | None = None
        self._dropped = 0
        self._last_latest = -float("inf")
        self._track_snapshots: dict[int, tuple[float, Path | None]] = {}  # track id -> (quality, path)

    @property
    def latest_path(self) -> Path:
        """Return where the newest annotated frame is kept."""
        return self.camera_dir / LATEST_NAME

    @property
    def status(self) -> PipelineStatus:
        """Return the current state and counters."""
        grabber = self._grabber
        return PipelineStatus(
            state=self._state,
            frames_processed=self._frames,
            last_frame_at=self._last_frame_at,
            events_emitted=self._events,
            frame_errors=self._frame_errors,
            callback_errors=self._callback_errors,
            detector_runs=self.analyzer.stats.detector_runs,
            tracks_active=len(self.analyzer.tracker.confirmed),
            reconnects=self._reconnects,
            last_error=self._last_error,
            retry_at=self._retry_at,
            frames_dropped=self._dropped + (grabber.dropped if grabber else 0),
        )

    def analytics(self) -> dict[str, Any]:
        """Return live occupancy per zone, line counts, active tracks and inference counters (JSON-ready).

        {"camera_id", "state", "zones": {zone: {"person": n, "vehicle": n}},
         "lines": {line: {"in": {"person": n, "vehicle": n}, "out": {...}}},
         "tracks": {"person": n, "vehicle": n}, "tracks_started": {...},
         "frames", "detector_runs", "full_frame_runs"}
        """
        return {"camera_id": self.camera.id, "state": self._state, **self.analyzer.analytics()}

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
        """Cancel the task, end live tracks, close the capture and wait (bounded) for all of it."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._grabber is not None:
            self._grabber.source.interrupt()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=STOP_TIMEOUT_S)
        if not done:
            log.warning("camera %s pipeline still running %.0f s after stop", self.camera.id, STOP_TIMEOUT_S)
        self._state = "stopped"
        self._retry_at = None
        if self._clips is not None:
            await self._clips.close()

    async def _run(self) -> None:
        """Connect, process frames until the source fails, back off, repeat."""
        while True:
            try:
                if await self._run_connection():
                    self._state = "stopped"
                    return
            except CameraError as err:
                self._failed(str(err))
                log.warning("camera %s: %s; retrying in %.0f s", self.camera.id, err, self._backoff)
            except Exception as err:
                # Supervision point: a bug in one frame's handling must not end the camera for good.
                self._failed(f"{type(err).__name__}: {err}")
                log.exception("camera %s pipeline failed; retrying in %.0f s", self.camera.id, self._backoff)
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _failed(self, reason: str) -> None:
        self._state = f"error: {reason}"
        self._last_error = reason
        self._reconnects += 1
        self._retry_at = datetime.fromtimestamp(time.time() + self._backoff, UTC)

    async def _run_connection(self) -> bool:
        """Open the camera and process frames; return True when a non-looping file ended."""
        source = CameraSource.from_config(self.camera, realtime=self.realtime)
        # Files analysed faster than real time must not lose frames; live sources must not lag.
        grabber = FrameGrabber(source, lossless=not source.is_stream and not self.realtime, name=self.camera.id)
        self._grabber = grabber
        grabber.start()
        try:
            await self._call(functools.partial(self.camera_dir.mkdir, parents=True, exist_ok=True))
            consecutive_errors = 0
            while True:
                try:
                    frame = await grabber.get()
                except EndOfStream:
                    log.info("camera %s: %s ended", self.camera.id, redact_source(self.camera.source))
                    return True
                if self._state != "running":
                    log.info("camera %s: receiving frames", self.camera.id)
                self._state = "running"
                self._retry_at = None
                self._backoff = BACKOFF_MIN_S
                try:
                    step = await self._call(self._buffer_and_detect, frame)
                except Exception as err:
                    # Supervision point: a detector hiccup on one frame is counted, not fatal.
                    self._frame_errors += 1
                    consecutive_errors += 1
                    log.exception("camera %s: frame failed", self.camera.id)
                    if consecutive_errors >= MAX_CONSECUTIVE_FRAME_ERRORS:
                        raise CameraError(f"{consecutive_errors} frames failed in a row: {err}") from err
                    continue
                consecutive_errors = 0
                self._frames += 1
                self._last_frame_at = frame.captured_at
                await self._handle(self.analyzer.track(step))
        finally:
            self._grabber = None
            self._dropped += grabber.dropped
            if not await grabber.stop(CLOSE_TIMEOUT_S):
                log.warning("camera %s: capture still closing after %.0f s", self.camera.id, CLOSE_TIMEOUT_S)
            await self._end_tracks()

    def _buffer_and_detect(self, frame: SampledFrame) -> Any:
        """Feed the clip buffer, then detect (runs in the executor: JPEG encoding and inference block)."""
        if self._clips is not None:
            self._clips.push(frame.image, frame.captured_at)
        for sink in self._frame_sinks:
            sink.push(frame.image, frame.captured_at)
        return self.analyzer.detect(frame)

    async def _extras(self, track: Track, image: np.ndarray, at: datetime) -> dict[str, Any]:
        """Clip and licence plate for a new track, where this camera records or reads them."""
        extra: dict[str, Any] = {}
        if self._clips is not None:
            try:
                extra["clip_path"] = await self._clips.start(f"t{track.id}", at)
            except ClipError:
                log.exception("camera %s: clip for track %d failed", self.camera.id, track.id)
        if self._plates is not None and track.category == "vehicle":
            read = await self._call(self._plates.read, image, track.box)
            if read is not None:
                extra["plate"] = read.as_dict()
                extra["read"] = read
        return extra

    async def _gate_plates(self, result: FrameResult, known: dict[int, PlateRead | None]) -> None:
        """Hand the plate of every vehicle seen on this frame to the vehicle gates (`on_plate`), if any."""
        if self._plates is None or self._on_plate is None:
            return
        at = result.frame.captured_at
        for track in result.tracks:
            if track.category != "vehicle" or track.misses:
                continue
            read = (
                known[track.id]
                if track.id in known
                else await self._call(self._plates.read, result.frame.image, track.box)
            )
            if read is None:
                continue
            try:
                await self._on_plate(self.camera.id, read, at)
            except Exception:
                # Supervision point: a failing gate decision must not stop detection on this camera.
                self._callback_errors += 1
                log.exception("camera %s: plate %s not handled", self.camera.id, read.text)

    async def _handle(self, result: FrameResult) -> None:
        """Save snapshots, then deliver track, region and count events for one analysed frame."""
        if self._on_frame is not None:
            try:
                self._on_frame(result)
            except Exception:
                # Supervision point: an observer's bug must not stop detection on this camera.
                self._callback_errors += 1
                log.exception("camera %s: on_frame callback failed", self.camera.id)
        snapshots: list[_Snapshot] = []
        # Track snapshots are only worth their encoding time when someone receives track events.
        reported = [*result.started, *result.ended] if self._on_track_event is not None else []
        planned = {t.id: self._plan_track_snapshot(t, snapshots) for t in reported}
        due = self._count_due(result)
        count_paths = {c: self.camera_dir / snapshot_name(result.frame.captured_at, c) for c in due}
        now = time.monotonic()
        shown = [track_detection(t, at=result.frame.position_s) for t in result.tracks]
        captions = [f"{t.label} #{t.id}" for t in result.tracks]
        if count_paths or now - self._last_latest >= LATEST_INTERVAL_S:
            self._last_latest = now
            for path in [*count_paths.values(), self.latest_path]:
                snapshots.append(_Snapshot(path, result.frame.image, shown, captions))
        saved = await self._save(snapshots)
        await self._hold_best_frames_as_jpeg(result)
        paths: dict[int, Path | None] = {}
        for track_id, (planned_path, new) in planned.items():
            if new and planned_path not in saved:
                self._track_snapshots.pop(track_id, None)  # not written: try again with the next best
                planned_path = None
            paths[track_id] = planned_path
        plate_reads: dict[int, PlateRead | None] = {}
        for track in result.started:
            extras = await self._extras(track, result.frame.image, track.last_seen_at)
            plate_reads[track.id] = extras.pop("read", None)
            await self._emit_track(track, "track_started", track.last_seen_at, paths.get(track.id), **extras)
        await self._gate_plates(result, plate_reads)
        for region_event in result.region_events:
            await self._emit_region(region_event)
        for track in result.ended:
            await self._emit_track(track, "track_ended", track.last_seen_at, paths.get(track.id))
            self._track_snapshots.pop(track.id, None)
        for category in due:
            tracks = [t for t in result.tracks if t.category == category]
            event = DetectionEvent(
                camera_id=self.camera.id,
                zone=self.camera.zone,
                category=category,
                count=len(tracks),
                detections=[DetectedObject.from_detection(track_detection(t)) for t in tracks],
                occurred_at=result.frame.captured_at,
                snapshot_path=count_paths[category] if count_paths[category] in saved else None,
            )
            await self._emit(event)

    def _count_due(self, result: FrameResult) -> list[Category]:
        """Return the categories whose confirmed-track count deserves a DetectionEvent on this frame."""
        if not self._count_events:
            return []
        counts = {c: sum(1 for t in result.tracks if t.category == c) for c in CATEGORIES}
        return self._gate.update(counts, time.monotonic())

    def _plan_track_snapshot(self, track: Track, snapshots: list[_Snapshot]) -> tuple[Path | None, bool]:
        """Queue a snapshot of the track's best sighting unless the one already written is still the best.

        Return its path and whether it is new (queued now) rather than written before.
        """
        known = self._track_snapshots.get(track.id)
        if known is not None and known[0] >= track.best_quality:
            return known[1], False
        if track.best_image is None or track.best_at is None:
            return None, False
        path = self.camera_dir / snapshot_name(track.best_at, track.category, track.id)
        best = track_detection(track, best=True)
        snapshots.append(_Snapshot(path, track.best_image, [best], [f"{track.label} #{track.id} {best.score:.2f}"]))
        self._track_snapshots[track.id] = (track.best_quality, path)
        return path, True

    async def _hold_best_frames_as_jpeg(self, result: FrameResult) -> None:
        """Keep this frame as JPEG for the live tracks whose best sighting it now is.

        A track holds its best frame until its last snapshot is written; as raw BGR that is 1.3 MB per frame
        (768x576), tens of frames on four busy cameras (~54 MB in the soak), against ~110 KB as JPEG. One encode
        per frame with an improvement, shared by its tracks (~1.4 ms); the snapshot decodes it again.
        """
        image = result.frame.image
        ended = {t.id for t in result.ended}
        holders = [t for t in result.improved if t.id not in ended and t.best_image is image]
        if not holders:
            return
        try:
            jpeg = await self._call(encode_jpeg, image, HELD_JPEG_QUALITY)
        except EncodeError:
            return  # the raw frame stays held
        for track in holders:
            if track.best_image is image:
                track.best_image = jpeg

    async def _save(self, snapshots: Sequence[_Snapshot]) -> set[Path]:
        """Encode and write snapshots in the executor; return the paths written."""
        if not snapshots:
            return set()
        try:
            written = await self._call(self._write_snapshots, list(snapshots))
        except (OSError, EncodeError) as err:
            self._frame_errors += 1
            problem = (err.strerror or str(err)) if isinstance(err, OSError) else str(err)
            if problem != self._save_problem:  # once per distinct problem, not on every frame (a full disk)
                self._save_problem = problem
                log.warning(
                    "camera %s: cannot save snapshots in %s: %s (detection goes on without them)",
                    self.camera.id,
                    self.camera_dir,
                    problem,
                )
            return set()
        if self._save_problem is not None:
            log.info("camera %s: snapshots are saved again in %s", self.camera.id, self.camera_dir)
            self._save_problem = None
        return written

    def _write_snapshots(self, snapshots: list[_Snapshot]) -> set[Path]:
        """Annotate and encode each distinct image once and write its files (executor thread)."""
        written: set[Path] = set()
        encoded: dict[tuple[int, tuple[str, ...]], bytes] = {}
        for shot in snapshots:
            key = (id(shot.image), tuple(shot.captions))
            data = encoded.get(key)
            if data is None:
                image = shot.image if isinstance(shot.image, np.ndarray) else decode_jpeg(shot.image)
                data = encoded[key] = annotated_jpeg(image, shot.detections, shot.captions)
            write_atomic(shot.path, data)
            written.add(shot.path)
        return written

    async def _end_tracks(self) -> None:
        """End the live tracks (camera lost or stopping) and report them."""
        for track, region_events in self.analyzer.end_all():
            for region_event in region_events:
                await self._emit_region(region_event)
            known = self._track_snapshots.pop(track.id, None)
            await self._emit_track(track, "track_ended", track.last_seen_at, known[1] if known else None)
        self._track_snapshots.clear()

    def _track_event(self, track: Track, kind: TrackEventKind, at: datetime, **extra: Any) -> TrackEvent:
        return TrackEvent(
            kind=kind,
            camera_id=self.camera.id,
            zone=self.camera.zone,
            track_id=track.id,
            category=track.category,
            label=track.label,
            occurred_at=at,
            first_seen_at=track.first_seen_at,
            last_seen_at=track.last_seen_at,
            dwell_s=track.dwell_s,
            score=track.best_score,
            box=track.box,
            zones_visited=self.analyzer.scene.visited(track.id),
            **extra,
        )

    async def _emit_track(
        self, track: Track, kind: TrackEventKind, at: datetime, snapshot: Path | None, **extra: Any
    ) -> None:
        await self._emit_track_event(self._track_event(track, kind, at, snapshot_path=snapshot, **extra))

    async def _emit_region(self, event: RegionEvent) -> None:
        await self._emit_track_event(
            self._track_event(
                event.track,
                event.kind,
                event.occurred_at,
                region=event.region,
                direction=event.direction,
                region_dwell_s=event.region_dwell_s,
            )
        )

    async def _emit_track_event(self, event: TrackEvent) -> None:
        """Deliver one track event to its callback, containing its failures."""
        if self._on_track_event is None:
            return
        self._events += 1
        try:
            await self._on_track_event(event)
        except Exception:
            # Supervision point: a consumer's bug must not stop detection on this camera.
            self._callback_errors += 1
            log.exception("camera %s: on_track_event callback failed for %s", self.camera.id, event.kind)

    async def _emit(self, event: DetectionEvent) -> None:
        """Deliver one count event to the callback, containing its failures."""
        self._events += 1
        try:
            await self._on_detection(event)
        except Exception:
            # Supervision point: a consumer's bug must not stop detection on this camera.
            self._callback_errors += 1
            log.exception("camera %s: on_detection callback failed for %s", self.camera.id, event.category)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
