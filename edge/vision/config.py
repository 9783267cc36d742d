"""Validated configuration for the vision subsystem: detectors and cameras."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"
NormalisedPoint = tuple[float, float]
CategoryName = Literal["person", "vehicle"]
CATEGORY_NAMES: tuple[CategoryName, ...] = ("person", "vehicle")
# Labels that are people or vehicles. Detections are merged (NMS) and tracked within a category, so a van
# seen as both 'car' and 'truck' is one object.
CATEGORY_BY_LABEL: dict[str, CategoryName] = {
    "person": "person",
    "bicycle": "vehicle",
    "car": "vehicle",
    "motorcycle": "vehicle",
    "bus": "vehicle",
    "truck": "vehicle",
}

# Chosen on the evaluation set and vtest.avi (docs/PERFORMANCE.md, "Detector quality"): vehicles score lower
# than people for the same certainty and false vehicles are rarer; people at 0.5 keep the plaza's tracks whole
# (lower, cones and signs start tracks).
DEFAULT_CATEGORY_THRESHOLDS: dict[CategoryName, float] = {"person": 0.5, "vehicle": 0.35}


class DetectorConfig(BaseModel):
    """Object detector backend, model file and filtering."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["nanodet", "yolo", "auto"] = Field(
        default="auto",
        description="Detector backend; 'auto' picks one from the ONNX model's output layout.",
    )
    model_path: Path | None = Field(
        default=None,
        description="ONNX model file; None resolves $OUTPOST_MODEL, ../shared/models, then the user cache.",
    )
    input_size: int | None = Field(
        default=None,
        gt=0,
        le=4096,
        description="Square network input size in pixels; None takes it from the model.",
    )
    resize: Literal["letterbox", "stretch"] | None = Field(
        default=None,
        description=(
            "How a frame is fitted into the square input: 'letterbox' keeps its aspect ratio and pads, 'stretch' "
            "resizes it to the square; None: the backend's default (NanoDet stretches, as it was trained; YOLO always "
            "letterboxes)."
        ),
    )
    tiling: int = Field(
        default=1,
        ge=1,
        le=4,
        description=(
            "1: detect on the whole frame only. N >= 2: also on an N x N grid of overlapping tiles, merged by NMS, "
            "for far, small people (1 + N*N inferences per frame: about 5.5x the CPU at 2; docs/PERFORMANCE.md)."
        ),
    )
    threads: int = Field(default=2, ge=1, le=64, description="onnxruntime intra-op threads.")
    parallel_runs: int = Field(
        # One inference at a time: each run in flight keeps its own working memory in onnxruntime's arena
        # (NanoDet-416: +25 MB for a second one), and on a 2-core box one run at a time, at up to ~20 runs per
        # second, already covers four cameras' ~9 (the capture threads need the other core).
        default=1,
        ge=1,
        le=16,
        description=(
            "Inferences running at once across cameras. Each needs its own working memory (~25 MB for "
            "NanoDet-416); raise it on boxes with idle cores to spare beyond capture and decoding."
        ),
    )
    batch: Literal["auto", "off"] = Field(
        # Off by default: measured on a 2-core CPU box, batching costs 11-20% more CPU per frame and halves
        # throughput with one inference thread (docs/PERFORMANCE.md, "Batching"); it pays on accelerators.
        default="off",
        description=(
            "Run frames that several cameras submit at the same time in one inference: 'auto' does so when the "
            "model's batch dimension is dynamic and two or more cameras are enabled (the default NanoDet file has "
            "a fixed batch of 1 and never batches); 'off' runs every frame alone. One (batched) inference runs at "
            "a time, so give it threads = the cores; on small CPU-only boxes batching saves no CPU (PERFORMANCE.md)."
        ),
    )
    max_batch: int = Field(default=4, ge=2, le=64, description="Most frames run together in one inference.")
    max_batch_wait_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=100.0,
        description=(
            "While frames queue behind a running inference, how long after the oldest arrived the next batch may "
            "wait to fill up; a frame arriving when the detector is idle always runs at once."
        ),
    )
    score_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Minimum score for a detection to be kept. Set alone, it applies to every label; left unset, people and "
            "vehicles take category_thresholds' defaults and it covers the other labels."
        ),
    )
    category_thresholds: dict[CategoryName, float] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_THRESHOLDS),
        description=(
            "Minimum score per category (person; vehicle = bicycle, car, motorcycle, bus, truck); overrides "
            "score_threshold, and class_thresholds override it. What is kept can start a track and an event."
        ),
    )
    track_floor: float | None = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description=(
            "People and vehicles scoring from this up to their threshold are weak detections: they only keep an "
            "existing track alive (ByteTrack's second stage), never start a track or an event; None: none are kept."
        ),
    )
    nms_iou: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="IoU above which overlapping boxes of a class (people, vehicles: of a category) are merged.",
    )
    classes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES),
        min_length=1,
        description="Labels to keep; detections of every other label are dropped.",
    )
    class_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-label score thresholds overriding score_threshold; keys must be in classes.",
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> DetectorConfig:
        if "score_threshold" in self.model_fields_set and "category_thresholds" not in self.model_fields_set:
            # One explicit threshold means one threshold, not the category defaults.
            self.category_thresholds = {}
        unknown = sorted(set(self.class_thresholds) - set(self.classes))
        if unknown:
            raise ValueError(f"class_thresholds has labels not listed in classes: {unknown}")
        thresholds: list[tuple[str, float]] = [*self.class_thresholds.items(), *self.category_thresholds.items()]
        bad = sorted(k for k, v in thresholds if not 0.0 <= v <= 1.0)
        if bad:
            raise ValueError(f"class_thresholds and category_thresholds must be within [0, 1]: {bad}")
        return self

    def threshold(self, label: str) -> float:
        """Return the score a detection of `label` needs: class, then category, then the default threshold."""
        if label in self.class_thresholds:
            return self.class_thresholds[label]
        category = CATEGORY_BY_LABEL.get(label)
        if category is not None and category in self.category_thresholds:
            return self.category_thresholds[category]
        return self.score_threshold


def _check_normalised(points: list[NormalisedPoint]) -> list[NormalisedPoint]:
    bad = [p for p in points if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0)]
    if bad:
        raise ValueError(f"coordinates are fractions of the frame width and height and must be within 0..1: {bad}")
    return points


class ZoneRegionConfig(BaseModel):
    """A polygon in the camera image: tracks entering, leaving and loitering in it are reported.

    Coordinates are normalised: x as a fraction of the frame width, y of its height, (0, 0) top-left,
    so a zone survives a change of stream resolution. A track is inside when the bottom centre of its
    box (where it touches the ground) is inside the polygon.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Zone name, unique per camera, used in events.")
    polygon: list[NormalisedPoint] = Field(
        min_length=3, description="Vertices [x, y] in order, normalised to 0..1 of the frame width/height."
    )
    loiter_s: float | None = Field(
        default=None, gt=0.0, description="Report loitering when one track stays longer than this; None: never."
    )
    categories: list[CategoryName] = Field(
        default_factory=lambda: list(CATEGORY_NAMES), min_length=1, description="Categories the zone counts."
    )

    @field_validator("polygon")
    @classmethod
    def _polygon_valid(cls, points: list[NormalisedPoint]) -> list[NormalisedPoint]:
        _check_normalised(points)
        area2 = sum(
            points[i][0] * points[(i + 1) % len(points)][1] - points[(i + 1) % len(points)][0] * points[i][1]
            for i in range(len(points))
        )
        if abs(area2) < 1e-9:
            raise ValueError("polygon has no area (its points are collinear or repeated)")
        return points


class LineConfig(BaseModel):
    """A counting line (segment) in the camera image, from point `a` to point `b`, normalised to 0..1.

    A track crossing it with its ground point counts once per crossing. Direction "in" is crossing to the
    right-hand side of the line as seen facing from a to b on the screen (for a on the left and b on the
    right: moving down the image); "out" is the reverse. Swap a and b to swap the directions.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Line name, unique per camera, used in events.")
    a: NormalisedPoint = Field(description="First end [x, y], normalised to 0..1.")
    b: NormalisedPoint = Field(description="Second end [x, y], normalised to 0..1.")
    categories: list[CategoryName] = Field(
        default_factory=lambda: list(CATEGORY_NAMES), min_length=1, description="Categories the line counts."
    )

    @model_validator(mode="after")
    def _ends_valid(self) -> LineConfig:
        _check_normalised([self.a, self.b])
        if self.a == self.b:
            raise ValueError("line ends a and b must differ")
        return self


class MotionConfig(BaseModel):
    """Motion gating: when and where the detector runs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Gate inference on motion; False runs the detector on every full frame."
    )
    width: int = Field(default=160, ge=32, le=640, description="Width in pixels of the grayscale motion image.")
    threshold: float = Field(
        default=18.0, gt=0.0, le=255.0, description="Grey-level difference from the background that counts as change."
    )
    alpha: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="Background learning rate per sampled frame; still objects fade in after ~3/alpha frames.",
    )
    min_blob_fraction: float = Field(
        default=0.0006, ge=0.0, lt=1.0, description="Smallest moving blob, as a share of the motion image's pixels."
    )
    reset_fraction: float = Field(
        default=0.6, gt=0.0, le=1.0, description="Changed share above which the background is replaced at once."
    )
    crop_max_fraction: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description="Detect on the padded motion region when its area is at most this share of the frame.",
    )
    crop_padding: float = Field(
        default=0.35, ge=0.0, le=2.0, description="Padding added on each side of the motion region, as its size."
    )
    min_crop_fraction: float = Field(
        default=0.4, gt=0.0, le=1.0, description="Smallest crop side, as a share of the frame's shorter side."
    )
    recheck_interval_s: float = Field(
        default=5.0,
        gt=0.0,
        description="Run a full-frame detection at least this often, so still objects are neither missed nor lost.",
    )
    track_refresh_s: float = Field(
        default=0.5,
        ge=0.0,
        description="While all motion lies on confirmed tracks, detect at most this often and let tracks coast.",
    )
    tentative_refresh_s: float = Field(
        default=0.5,
        ge=0.0,
        description=(
            "While motion lies on tracks not yet confirmed, detect at most this often: a newcomer is reported after "
            "tracking.min_hits runs, so this bounds how late it is. Lower reports newcomers sooner at a CPU cost "
            "(0: every frame; docs/PERFORMANCE.md, frame coverage)."
        ),
    )


class TrackingConfig(BaseModel):
    """Multi-object tracking (ByteTrack-style two-stage IoU association)."""

    model_config = ConfigDict(extra="forbid")

    high_score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "None (default): a detection reaching the detector's threshold for its label may start a track, so what "
            "is detected and what becomes an event agree; weak ones (detector.track_floor up to the threshold) only "
            "continue tracks. A score here also demands that much to start a track (stricter than the detector)."
        ),
    )
    match_iou: float = Field(
        default=0.2, gt=0.0, le=1.0, description="Least IoU between a predicted track box and a high detection."
    )
    low_match_iou: float = Field(
        default=0.4, gt=0.0, le=1.0, description="Least IoU for the second stage, with low-score detections."
    )
    min_hits: int = Field(default=3, ge=1, le=100, description="Detections before a track is reported as started.")
    max_misses: int = Field(
        default=6, ge=1, le=1000, description="Detector runs in a row that miss a visible track before it ends."
    )
    max_coast_s: float = Field(
        default=4.0,
        gt=0.0,
        description="Seconds a track may keep being missed in view (however few runs that was) before it ends.",
    )


class CameraConfig(BaseModel):
    """One camera: where its video comes from and how often to sample it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Stable slug used in topics, file names and URLs.",
    )
    name: str = Field(min_length=1, description="Human-readable camera name.")
    zone: str | None = Field(default=None, description="Site zone the camera watches, if any.")
    source: str = Field(
        min_length=1,
        description="Video file path, rtsp:// (or http://) URL, USB device path /dev/videoN, or a USB device index.",
    )
    fps: float = Field(default=2.0, gt=0.0, le=30.0, description="Frames per second sampled for detection.")
    loop: bool = Field(default=True, description="Restart a video file when it ends.")
    enabled: bool = Field(default=True, description="Whether the camera is processed at all.")
    read_plates: bool = Field(
        default=False, description="The camera watches a vehicle gate: read licence plates of vehicle tracks."
    )
    record_clips: bool = Field(default=False, description="Record an MP4 clip around each new track.")
    timeout_s: float = Field(
        default=10.0, gt=0.0, le=120.0, description="Seconds to wait when opening or reading a stream."
    )
    zones: list[ZoneRegionConfig] = Field(
        default_factory=list,
        description="Polygons in the image for enter/leave/loitering events and occupancy (not the site `zone`).",
    )
    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines in the image.")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gating of inference.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Object tracking.")

    @model_validator(mode="after")
    def _names_unique(self) -> CameraConfig:
        for kind, names in (("zones", [z.name for z in self.zones]), ("lines", [x.name for x in self.lines])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind} names must be unique per camera: {dupes}")
        return self
