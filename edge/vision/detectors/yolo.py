"""Ultralytics YOLOv8/YOLO11 ONNX export backend: one [1, 4+nc, N] output, letterboxed RGB input."""

from __future__ import annotations

import logging
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
    to_detections,
)
from edge.vision.detectors.layout import ModelLayout, checked_layout
from edge.vision.detectors.resize import IDENTITY_LETTERBOX, Letterbox, letterbox, unletterbox

log = logging.getLogger(__name__)

DEFAULT_INPUT_SIZE = 640
MAX_CANDIDATES = 1000


def decode_yolo_output(
    output: np.ndarray,
    class_names: tuple[str, ...],
    thresholds: float | np.ndarray,
    nms_iou: float,
    frame_hw: tuple[int, int],
    geometry: Letterbox = IDENTITY_LETTERBOX,
) -> list[Detection]:
    """Decode a raw [1,4+nc,N] or [1,N,4+nc] YOLO output into frame-pixel detections after class-wise NMS.

    Each anchor keeps its best class among those whose score reaches that class's threshold
    (a scalar or a per-class array with +inf for dropped classes).
    """
    nc = len(class_names)
    preds = np.asarray(output)
    if preds.ndim == 3:
        if preds.shape[0] != 1:
            raise DetectorError(f"YOLO output batch must be 1, got shape {preds.shape}")
        preds = preds[0]
    if preds.ndim != 2 or 4 + nc not in preds.shape:
        raise DetectorError(f"YOLO output shape {output.shape} does not fit {nc} classes (4+nc channels)")
    # Channels-first unless only the second axis matches 4+nc (the transposed export).
    if preds.shape[0] != 4 + nc:
        preds = preds.T
    class_scores = preds[4:]  # [nc, N]
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), (nc,))
    eligible = np.where(class_scores >= thr[:, None], class_scores, -1.0)
    class_ids = eligible.argmax(axis=0)
    scores = eligible[class_ids, np.arange(eligible.shape[1])]
    cand = np.flatnonzero(scores >= 0.0)
    if len(cand) > MAX_CANDIDATES:
        cand = cand[np.argpartition(-scores[cand], MAX_CANDIDATES - 1)[:MAX_CANDIDATES]]
    cx, cy, bw, bh = preds[:4, cand]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    unletterbox(boxes, geometry)
    scores, class_ids = scores[cand], class_ids[cand]
    keep = nms_per_class(boxes, scores, nms_groups(class_names)[class_ids], nms_iou)
    return to_detections(boxes[keep], scores[keep], class_ids[keep], class_names, frame_hw)


class YoloDetector(Detector):
    """Ultralytics YOLOv8/YOLO11 detection export (no NMS in the graph)."""

    type_key: ClassVar[str] = "yolo"

    def __init__(self, session: ort.InferenceSession, cfg: DetectorConfig) -> None:
        super().__init__(session, cfg)
        layout = checked_layout(session, self.type_key)
        self.output_names = list(layout.output_names)
        self._names = layout.classes
        self._size = _input_size(layout, cfg)
        self._thresholds = self._class_thresholds()

    @property
    def input_size(self) -> int:
        """Return the square network input size in pixels."""
        return self._size

    @property
    def class_names(self) -> tuple[str, ...]:
        """Return class names from the model metadata, else COCO."""
        return self._names

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """Letterbox a BGR frame into a [1,3,S,S] RGB/255 float32 tensor."""
        padded, geometry = letterbox(frame_bgr, self._size)
        rgb = cv2.cvtColor(padded, cv2.COLOR_BGR2RGB)
        x = rgb.transpose(2, 0, 1)[None].astype(np.float32) * (1.0 / 255.0)
        return np.ascontiguousarray(x), geometry

    def postprocess(
        self, outputs: Sequence[np.ndarray], frame_hw: tuple[int, int], geometry: Letterbox
    ) -> list[Detection]:
        """Decode one image's [1,4+nc,N] output into frame-pixel detections, undoing its letterbox."""
        return decode_yolo_output(outputs[0], self._names, self._thresholds, self.cfg.nms_iou, frame_hw, geometry)


def _input_size(layout: ModelLayout, cfg: DetectorConfig) -> int:
    """Return the square input size: the model's fixed one, else the config's, else its metadata or 640."""
    if not layout.dynamic_input:
        assert layout.input_size is not None  # a fixed input always has its size
        if cfg.input_size is not None and cfg.input_size != layout.input_size:
            raise DetectorError(f"input_size {cfg.input_size} differs from the model's fixed size {layout.input_size}")
        return layout.input_size
    size = cfg.input_size or layout.input_size or DEFAULT_INPUT_SIZE
    if size % 32:
        raise DetectorError(f"YOLO input size {size} must be a multiple of the largest stride (32)")
    return size
