"""The detector contract shared by every backend, plus filtering and NMS helpers."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
import onnxruntime as ort

from edge.vision.config import CATEGORY_BY_LABEL, CATEGORY_NAMES, DetectorConfig

log = logging.getLogger(__name__)


class DetectorError(Exception):
    """A detector model cannot be loaded or run."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object; the box is in frame pixels (x1, y1) top-left, (x2, y2) bottom-right."""

    label: str
    class_id: int
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    weak: bool = False
    """Below its label's threshold, above the track floor: it may continue a track, never start one or an event."""

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Return (x1, y1, x2, y2)."""
        return (self.x1, self.y1, self.x2, self.y2)

    def as_dict(self) -> dict[str, Any]:
        """Return {label, score, box} for events and JSON."""
        return {"label": self.label, "score": self.score, "box": self.box}


class Detector(ABC):
    """Run one ONNX object detector on BGR frames.

    Contract: `detect` is thread-safe (onnxruntime sessions are), blocking, and returns only
    detections whose label is in the configured classes and whose score reaches that label's
    threshold, after NMS within each class (people and vehicles: within the category), with boxes
    clipped to the frame. `detect_all` also returns the weak ones, flagged, for the tracker.

    `detect_all(frame)` is exactly: `tensor, geometry = preprocess(frame)`, one
    `session.run(output_names, {input_name: tensor})`, then `flag_weak(postprocess(outputs, frame_hw, geometry))`;
    `postprocess` keeps candidates down to the track floor (`DetectorConfig.track_floor`) for people and
    vehicles, `flag_weak` marks those under their label's threshold, and `detect` drops them.
    A backend implements the two halves and never overrides `detect` with anything else, so a caller
    may stack several preprocessed tensors on the batch axis, run them at once when the model's batch
    is dynamic, and postprocess each image's rows (`batch.py`, `batching.py`).
    """

    type_key: ClassVar[str]
    session: ort.InferenceSession
    """The model, shared by every caller (onnxruntime sessions are thread-safe)."""
    input_name: str
    """Name of the model's image input, [N,3,S,S]."""
    output_names: list[str]
    """Outputs `postprocess` reads, in the order it reads them; set by each backend."""
    cfg: DetectorConfig

    def __init__(self, session: ort.InferenceSession, cfg: DetectorConfig) -> None:
        self.session = session
        self.cfg = cfg
        self.input_name = session.get_inputs()[0].name
        self._run_slots = threading.BoundedSemaphore(cfg.parallel_runs)

    def run(self, feed: np.ndarray) -> list[np.ndarray]:
        """Run the model on an [N,3,S,S] tensor (blocking; at most `cfg.parallel_runs` at once)."""
        with self._run_slots:
            outputs: list[np.ndarray] = self.session.run(self.output_names, {self.input_name: feed})
        return outputs

    @property
    @abstractmethod
    def input_size(self) -> int:
        """Return the square network input size in pixels."""

    @property
    @abstractmethod
    def class_names(self) -> tuple[str, ...]:
        """Return the model's class names indexed by class id."""

    @abstractmethod
    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """Return the [1,3,S,S] input tensor of a BGR frame and the geometry `postprocess` maps boxes back with."""

    @abstractmethod
    def postprocess(self, outputs: Sequence[np.ndarray], frame_hw: tuple[int, int], geometry: Any) -> list[Detection]:
        """Decode one image's outputs (each with a batch axis of 1, in `output_names` order) into detections."""

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detect objects in a HxWx3 uint8 BGR frame: only those reaching their label's threshold."""
        return [d for d in self.detect_all(frame_bgr) if not d.weak]

    def detect_all(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detect objects, with the weak ones (track floor up to the threshold) flagged `weak`, for tracking."""
        tensor, geometry = self.preprocess(frame_bgr)
        outputs = self.run(tensor)
        return self.flag_weak(self.postprocess(outputs, frame_bgr.shape[:2], geometry))

    def flag_weak(self, detections: Sequence[Detection]) -> list[Detection]:
        """Return the detections with `weak` set on those below their label's threshold."""
        event = self._event_thresholds
        if event is None:
            event = self._event_thresholds = build_class_thresholds(self.class_names, self.cfg)
        return [dataclasses.replace(d, weak=True) if d.score < event[d.class_id] else d for d in detections]

    _event_thresholds: np.ndarray | None = None

    def _class_thresholds(self) -> np.ndarray:
        """Return the per-class score a candidate needs (the lower of threshold and track floor); dropped: +inf."""
        event = build_class_thresholds(self.class_names, self.cfg)
        floor = self.cfg.track_floor
        if floor is None:
            return event
        tracked = np.array([name in CATEGORY_BY_LABEL for name in self.class_names])
        return np.where(tracked & np.isfinite(event), np.minimum(event, floor), event).astype(np.float32)


def build_class_thresholds(class_names: tuple[str, ...], cfg: DetectorConfig) -> np.ndarray:
    """Return per-class thresholds from the config; classes not kept get +inf."""
    wanted = set(cfg.classes)
    missing = sorted(wanted - set(class_names))
    if missing == sorted(wanted):
        raise DetectorError(f"none of the configured classes {sorted(wanted)} exist in the model")
    if missing:
        log.warning("configured classes not in the model, ignored: %s", missing)
    thresholds = np.full(len(class_names), np.inf, dtype=np.float32)
    for class_id, name in enumerate(class_names):
        if name in wanted:
            thresholds[class_id] = cfg.threshold(name)
    return thresholds


@functools.lru_cache(maxsize=16)
def nms_groups(class_names: tuple[str, ...]) -> np.ndarray:
    """Return each class id's NMS group: its category (person, vehicle) when it has one, else the class itself.

    Overlapping 'car' and 'truck' boxes on one van are one object: merging them keeps the best-scored label
    and stops the tracker (which matches within a category) from starting two tracks for it.
    """
    offset = len(CATEGORY_NAMES)
    groups = [
        CATEGORY_NAMES.index(CATEGORY_BY_LABEL[name]) if name in CATEGORY_BY_LABEL else offset + class_id
        for class_id, name in enumerate(class_names)
    ]
    out = np.asarray(groups, dtype=np.int64)
    out.setflags(write=False)
    return out


def nms_per_class(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float) -> np.ndarray:
    """Return the indices kept by NMS within each group id (class or `nms_groups` category), highest score first."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = boxes_xyxy.astype(np.float64, copy=True)
    xywh[:, 2:] -= xywh[:, :2]
    # Lists match OpenCV's typed signature; at most MAX_CANDIDATES rows, so the conversion is cheap.
    picked = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, float(iou))
    keep = np.asarray(picked, dtype=np.int64).reshape(-1)
    best_first: np.ndarray = keep[np.argsort(-scores[keep], kind="stable")]
    return best_first


def to_detections(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    class_names: tuple[str, ...],
    frame_hw: tuple[int, int],
) -> list[Detection]:
    """Clip boxes to the frame and wrap them as Detection objects."""
    h, w = frame_hw
    boxes = boxes_xyxy.astype(np.float64, copy=True)
    np.clip(boxes[:, 0::2], 0.0, float(w), out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0.0, float(h), out=boxes[:, 1::2])
    return [
        Detection(class_names[c], c, s, x1, y1, x2, y2)
        for (x1, y1, x2, y2), s, c in zip(
            boxes.tolist(), scores.astype(np.float64).tolist(), class_ids.tolist(), strict=True
        )
    ]


def select_candidates(scores: np.ndarray, thresholds: np.ndarray, max_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, class) index arrays of score entries above their class threshold, best first."""
    rows, cols = np.nonzero(scores >= thresholds[None, :])
    if len(rows) > max_candidates:
        top = np.argpartition(-scores[rows, cols], max_candidates - 1)[:max_candidates]
        rows, cols = rows[top], cols[top]
    return rows, cols
