"""NanoDet (GFL head) backend: six outputs, per-stride class scores and box bins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import cv2
import numpy as np
import onnxruntime as ort

from edge.vision.config import DetectorConfig
from edge.vision.detectors.base import (
    Detection,
    Detector,
    DetectorError,
    nms_groups,
    nms_per_class,
    select_candidates,
    to_detections,
)
from edge.vision.detectors.layout import NANODET_STRIDES as STRIDES
from edge.vision.detectors.layout import checked_layout
from edge.vision.detectors.resize import Letterbox, letterbox, unletterbox

# BGR order, as the model was trained (see shared/models/README.md).
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
PAD_BGR = (104, 116, 124)  # the mean colour: letterbox bands normalise to about zero
MAX_CANDIDATES = 1000


class NanoDetDetector(Detector):
    """NanoDet ONNX model with sigmoid class scores and GFL distance distributions."""

    type_key: ClassVar[str] = "nanodet"

    def __init__(self, session: ort.InferenceSession, cfg: DetectorConfig) -> None:
        super().__init__(session, cfg)
        layout = checked_layout(session, self.type_key)
        assert layout.input_size is not None and layout.reg_max is not None  # always set for NanoDet
        size = layout.input_size
        if cfg.input_size is not None and cfg.input_size != size:
            raise DetectorError(
                f"input_size {cfg.input_size} differs from the model's fixed size {size}: this NanoDet export "
                f"only takes {size}x{size}; leave input_size unset or use a model exported at {cfg.input_size}"
            )
        self._size = size
        # Stretch unless told to letterbox: the model was trained on stretched images, and on the evaluation
        # set (docs/PERFORMANCE.md, "Detector quality") letterboxing finds a few more people but loses vehicles.
        self._letterbox = cfg.resize == "letterbox"
        self._reg_max = layout.reg_max
        self._names = layout.classes
        self.output_names = list(layout.output_names)
        self._centers, self._strides = _grid(size)
        self._thresholds = self._class_thresholds()
        self._bins = np.arange(self._reg_max + 1, dtype=np.float32)

    @property
    def input_size(self) -> int:
        """Return the square network input size in pixels."""
        return self._size

    @property
    def class_names(self) -> tuple[str, ...]:
        """Return the class names: the model's `names` metadata, else COCO."""
        return self._names

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox | None]:
        """Fit a BGR frame into a normalised [1,3,S,S] float32 tensor: letterboxed (geometry) or stretched (None)."""
        geometry: Letterbox | None = None
        if self._letterbox:
            resized, geometry = letterbox(frame_bgr, self._size, PAD_BGR)
        else:
            resized = cv2.resize(frame_bgr, (self._size, self._size), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) - MEAN_BGR) / STD_BGR
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), geometry

    def postprocess(
        self, outputs: Sequence[np.ndarray], frame_hw: tuple[int, int], geometry: Letterbox | None
    ) -> list[Detection]:
        """Decode one image's six outputs (score maps, then box bins, by stride) into frame-pixel detections."""
        n = len(STRIDES)
        scores = np.concatenate([o[0] for o in outputs[:n]], axis=0)
        dists = np.concatenate([o[0] for o in outputs[n:]], axis=0)
        boxes, kept_scores, class_ids = self.decode(scores, dists)
        h, w = frame_hw
        if geometry is not None:
            unletterbox(boxes, geometry)
        else:
            boxes[:, 0::2] *= w / self._size
            boxes[:, 1::2] *= h / self._size
        return to_detections(boxes, kept_scores, class_ids, self.class_names, (h, w))

    def decode(self, scores: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode concatenated [cells,nc] scores and [cells,4*(reg_max+1)] bins to NMS'd input-pixel boxes."""
        rows, class_ids = select_candidates(scores, self._thresholds, MAX_CANDIDATES)
        if len(rows) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        logits = dists[rows].reshape(-1, 4, self._reg_max + 1)
        logits = logits - logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        distance = (probs @ self._bins) * self._strides[rows, None]  # [k, 4] = left, top, right, bottom
        centers = self._centers[rows]
        boxes = np.concatenate([centers - distance[:, :2], centers + distance[:, 2:]], axis=1)
        kept_scores = scores[rows, class_ids]
        keep = nms_per_class(boxes, kept_scores, nms_groups(self._names)[class_ids], self.cfg.nms_iou)
        return boxes[keep], kept_scores[keep], class_ids[keep]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return cell centres [cells,2] (x, y in input pixels) and strides [cells], stride order, row-major."""
    centers: list[np.ndarray] = []
    strides: list[np.ndarray] = []
    for stride in STRIDES:
        n = size // stride
        ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
        centers.append(np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1))
        strides.append(np.full(n * n, stride, dtype=np.float32))
    return np.concatenate(centers), np.concatenate(strides)
