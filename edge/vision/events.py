"""Detection events and the first-cut rule deciding when a camera emits one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from edge.vision.config import CATEGORY_BY_LABEL as CATEGORY_BY_LABEL
from edge.vision.config import CATEGORY_NAMES, CategoryName
from edge.vision.detectors.base import Detection

Category = CategoryName
CATEGORIES: tuple[Category, ...] = CATEGORY_NAMES
DEFAULT_MIN_INTERVAL_S = 5.0
# Class-wise NMS keeps one van as truck, bus and car at once; within a category such overlaps are one object.
CATEGORY_MERGE_IOU = 0.5


class DetectedObject(BaseModel):
    """One detection as carried in an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(description="Model class label, e.g. 'person' or 'truck'.")
    score: float = Field(ge=0.0, le=1.0, description="Detector confidence.")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in frame pixels.")

    @classmethod
    def from_detection(cls, det: Detection) -> DetectedObject:
        """Build from a detector result."""
        return cls(label=det.label, score=det.score, box=det.box)


class DetectionEvent(BaseModel):
    """A category appeared on a camera or its count changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(description="Camera slug.")
    zone: str | None = Field(description="Zone the camera watches, if configured.")
    category: Category = Field(description="Object category: 'person' or 'vehicle'.")
    count: int = Field(ge=1, description="Number of objects of the category in the frame.")
    detections: list[DetectedObject] = Field(description="The category's detections in the frame.")
    occurred_at: AwareDatetime = Field(description="UTC time the frame was captured.")
    snapshot_path: Path | None = Field(
        description="Annotated JPEG of the frame; None if it could not be saved (the event still matters)."
    )


def box_iou(a: Detection, b: Detection) -> float:
    """Return the intersection over union of two detections' boxes."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


def detections_by_category(detections: Iterable[Detection]) -> dict[Category, list[Detection]]:
    """Group detections into categories, best first, merging same-category boxes that overlap.

    Labels that belong to no category are dropped.
    """
    grouped: dict[Category, list[Detection]] = {c: [] for c in CATEGORIES}
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        category = CATEGORY_BY_LABEL.get(det.label)
        if category is None:
            continue
        kept = grouped[category]
        # A handful of boxes per frame: a plain greedy pass is cheaper than building arrays.
        if all(box_iou(det, other) < CATEGORY_MERGE_IOU for other in kept):
            kept.append(det)
    return grouped


@dataclass
class _CategoryState:
    reported_count: int = 0
    last_emitted_at: float | None = None


class CategoryGate:
    """Decide, frame by frame, which categories deserve an event.

    A category is reported when its count differs from the last reported count (so 0 -> n is an
    appearance), at most once per `min_interval_s`. A count of 0 is never reported, but it resets
    the category so that its next appearance is. Time is passed in (monotonic seconds) so the rule
    is a pure function of its inputs.
    """

    def __init__(self, min_interval_s: float = DEFAULT_MIN_INTERVAL_S) -> None:
        if min_interval_s < 0:
            raise ValueError("min_interval_s must not be negative")
        self.min_interval_s = min_interval_s
        self._state: dict[Category, _CategoryState] = {c: _CategoryState() for c in CATEGORIES}

    def update(self, counts: dict[Category, int], now: float) -> list[Category]:
        """Record this frame's counts and return the categories to emit an event for."""
        due: list[Category] = []
        for category in CATEGORIES:
            state = self._state[category]
            count = counts.get(category, 0)
            if count == 0:
                state.reported_count = 0
                continue
            if count == state.reported_count:
                continue
            if state.last_emitted_at is not None and now - state.last_emitted_at < self.min_interval_s:
                continue
            state.reported_count = count
            state.last_emitted_at = now
            due.append(category)
        return due


TrackEventKind = Literal["track_started", "track_ended", "zone_entered", "zone_left", "loitering", "line_crossed"]


class TrackEvent(BaseModel):
    """Something one tracked object did: appeared, left, entered or left a zone, loitered, crossed a line.

    One person walking past is one `track_started` (after the tracker's `min_hits`) and one `track_ended`
    (with the dwell time and the best snapshot), whatever the frame rate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TrackEventKind = Field(description="What happened.")
    camera_id: str = Field(description="Camera slug.")
    zone: str | None = Field(description="Site zone the camera watches, if configured.")
    track_id: int = Field(ge=1, description="Track id, unique per camera until the process restarts.")
    category: Category = Field(description="Object category: 'person' or 'vehicle'.")
    label: str = Field(description="Model label seen most often on this track, e.g. 'person' or 'truck'.")
    occurred_at: AwareDatetime = Field(
        description="UTC time of the frame where it happened (for track_ended: the last sighting)."
    )
    first_seen_at: AwareDatetime = Field(description="UTC time of the track's first sighting.")
    last_seen_at: AwareDatetime = Field(description="UTC time of the track's latest sighting.")
    dwell_s: float = Field(ge=0.0, description="Seconds from first to latest sighting (media time).")
    score: float = Field(ge=0.0, le=1.0, description="Best detector score on the track so far.")
    box: tuple[float, float, float, float] = Field(description="Latest box x1, y1, x2, y2 in frame pixels.")
    zones_visited: list[str] = Field(description="Image zones the track has been in, in order of first entry.")
    region: str | None = Field(default=None, description="Image zone or line name, for zone and line events.")
    direction: Literal["in", "out"] | None = Field(default=None, description="Line crossing direction.")
    region_dwell_s: float | None = Field(
        default=None, ge=0.0, description="Seconds spent in the zone (zone_left, loitering)."
    )
    snapshot_path: Path | None = Field(
        default=None,
        description="Annotated JPEG of the track's best sighting (track_started/ended); None if not saved.",
    )
    clip_path: Path | None = Field(default=None, description="MP4 clip around the track's start, if recorded.")
    plate: dict[str, Any] | None = Field(
        default=None, description="Licence plate read on a gate camera: text, confidence, box."
    )

    def summary(self) -> str:
        """Return a one-line human description for the journal."""
        what = f"{self.label} #{self.track_id} on {self.camera_id}"
        if self.kind == "track_started":
            return f"{what} appeared"
        if self.kind == "track_ended":
            return f"{what} left after {self.dwell_s:.0f} s"
        if self.kind == "zone_entered":
            return f"{what} entered {self.region}"
        if self.kind == "zone_left":
            return f"{what} left {self.region} after {self.region_dwell_s or 0:.0f} s"
        if self.kind == "loitering":
            return f"{what} loitering in {self.region} for {self.region_dwell_s or 0:.0f} s"
        return f"{what} crossed {self.region} ({self.direction})"

    def payload(self) -> dict[str, Any]:
        """Return the JSON body to journal: every field, with the snapshot as a file name only."""
        body = self.model_dump(mode="json", exclude={"snapshot_path", "clip_path"})
        body["snapshot"] = self.snapshot_path.name if self.snapshot_path else None
        body["clip"] = self.clip_path.name if self.clip_path else None
        return body
