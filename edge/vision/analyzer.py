"""One camera's per-frame analysis: motion gating -> detection -> tracking -> zone and line analytics.

Split in two steps so the pipeline can put each where it belongs:
- `detect(frame)` (blocking, executor thread): motion, the gating decision and the detector run;
- `track(step)` (cheap, event loop): tracker and analytics updates, which the console reads.
Steps of one camera must alternate (the pipeline awaits each), so the analyzer needs no lock.
`process(frame)` runs both, for synchronous use.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from edge.vision.config import CameraConfig, LineConfig, ZoneRegionConfig
from edge.vision.detectors.base import Detection, Detector
from edge.vision.events import CATEGORIES, Category
from edge.vision.gating import InferencePlan, InferencePlanner
from edge.vision.grabber import SampledFrame
from edge.vision.motion import MotionDetector, MotionResult
from edge.vision.tracking import Track, Tracker
from edge.vision.zones import RegionEvent, SceneAnalytics


@dataclass(frozen=True, slots=True)
class DetectStep:
    """The blocking half of a frame's analysis."""

    frame: SampledFrame
    motion: MotionResult | None
    plan: InferencePlan | None  # None: the detector was skipped
    detections: list[Detection] | None  # frame pixels; None when skipped


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything one frame changed."""

    frame: SampledFrame
    plan: InferencePlan | None
    detections: list[Detection] | None
    started: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)
    improved: list[Track] = field(default_factory=list)  # best sighting now on this frame
    region_events: list[RegionEvent] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)  # live confirmed tracks after this frame


@dataclass(slots=True)
class AnalyzerStats:
    """Counters for the console and the benchmark."""

    frames: int = 0
    detector_runs: int = 0
    full_frame_runs: int = 0
    detect_s: float = 0.0  # total seconds spent in the detector (the metrics' detector latency)
    tracks_started: dict[Category, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))


class CameraAnalyzer:
    """Per-camera motion gating, detection, tracking and analytics."""

    def __init__(self, camera: CameraConfig, detector: Detector) -> None:
        self.camera = camera
        self.detector = detector
        self.motion = MotionDetector(camera.motion) if camera.motion.enabled else None
        self.planner = InferencePlanner(camera.motion)
        self.tracker = Tracker(camera.tracking)
        self.scene = SceneAnalytics(camera.zones, camera.lines)
        self.stats = AnalyzerStats()

    def detect(self, frame: SampledFrame) -> DetectStep:
        """Run motion detection and, if the gate says so, the detector (blocking)."""
        image = frame.image
        h, w = image.shape[:2]
        motion = self.motion.update(image) if self.motion is not None else None
        now = frame.position_s
        confirmed = self.tracker.coverage_boxes(now)
        plan = self.planner.plan(motion, (w, h), now, confirmed, self.tracker.coverage_boxes(now, tentative=True))
        if plan is None:
            return DetectStep(frame, motion, None, None)
        started = time.perf_counter()
        if plan.region is None:
            found = self.detector.detect_all(image)
            self.stats.detect_s += time.perf_counter() - started
            return DetectStep(frame, motion, plan, found)
        x1, y1, x2, y2 = (int(v) for v in plan.region)
        found = self.detector.detect_all(image[y1:y2, x1:x2])
        self.stats.detect_s += time.perf_counter() - started
        return DetectStep(frame, motion, plan, [_offset(d, x1, y1) for d in found])

    def track(self, step: DetectStep) -> FrameResult:
        """Fold a detection step into the tracks and the zone/line analytics (cheap)."""
        frame = step.frame
        h, w = frame.image.shape[:2]
        self.scene.set_frame_size(w, h)
        self.stats.frames += 1
        now, at = frame.position_s, frame.captured_at
        if step.plan is None or step.detections is None:
            ticked = self.scene.tick(now, at)
            return FrameResult(frame, None, None, region_events=ticked, tracks=self.tracker.confirmed)
        self.stats.detector_runs += 1
        self.stats.full_frame_runs += step.plan.region is None
        update = self.tracker.update(step.detections, now, at, (w, h), step.plan.region)
        for track in update.improved:
            track.best_image = frame.image
        events: list[RegionEvent] = []
        for track in update.started:
            self.stats.tracks_started[track.category] += 1
            for when, point in track.path:  # replay the sightings made while it was tentative
                events.extend(self.scene.observe(track, when, point, at))
        started = {t.id for t in update.started}
        for track in update.matched:
            if track.confirmed and track.id not in started:
                events.extend(self.scene.observe(track, now, track.path[-1][1], at))
        for track in update.ended:
            events.extend(self.scene.end(track, track.last_seen_at))
        events.extend(self.scene.tick(now, at))
        return FrameResult(
            frame,
            step.plan,
            [d for d in step.detections if not d.weak],  # weak ones only serve the tracker
            started=update.started,
            ended=update.ended,
            improved=update.improved,
            region_events=events,
            tracks=self.tracker.confirmed,
        )

    def process(self, frame: SampledFrame) -> FrameResult:
        """Analyse one frame synchronously."""
        return self.track(self.detect(frame))

    def end_all(self) -> list[tuple[Track, list[RegionEvent]]]:
        """End every track (stop or reconnect) and reset motion and gating; return the ended tracks."""
        ended = self.tracker.end_all()
        if self.motion is not None:
            self.motion.reset()
        self.planner.reset()
        return [(t, self.scene.end(t, t.last_seen_at)) for t in ended]

    def use_regions(self, zones: list[ZoneRegionConfig], lines: list[LineConfig]) -> None:
        """Count with new zones and lines from the next frame on (call on the loop, between steps).

        Occupancy starts again from the live tracks as they are next seen; a line kept under its name keeps its
        counts. Tracks inside a removed zone report no `zone_left` for it.
        """
        scene = SceneAnalytics(zones, lines)
        scene.keep_counts(self.scene)
        self.scene = scene

    def analytics(self) -> dict[str, Any]:
        """Return live occupancy, line counts, active tracks and gating counters."""
        confirmed = self.tracker.confirmed
        return {
            **self.scene.snapshot(),
            "tracks": {c: sum(1 for t in confirmed if t.category == c) for c in CATEGORIES},
            "tracks_started": dict(self.stats.tracks_started),
            "frames": self.stats.frames,
            "detector_runs": self.stats.detector_runs,
            "full_frame_runs": self.stats.full_frame_runs,
        }


def _offset(det: Detection, dx: float, dy: float) -> Detection:
    return dataclasses.replace(det, x1=det.x1 + dx, y1=det.y1 + dy, x2=det.x2 + dx, y2=det.y2 + dy)
