"""Object detector backends behind one small Detector contract."""

from __future__ import annotations

from edge.vision.detectors.base import Detection, Detector, DetectorError
from edge.vision.detectors.batching import BatchingDetector, with_batching
from edge.vision.detectors.layout import ModelLayout, ModelLayoutError, describe_layout, model_layout
from edge.vision.detectors.nanodet import NanoDetDetector
from edge.vision.detectors.registry import DETECTOR_TYPES, detect_layout, load_detector
from edge.vision.detectors.resize import Letterbox, letterbox
from edge.vision.detectors.tiling import TiledDetector, with_tiling
from edge.vision.detectors.yolo import YoloDetector, decode_yolo_output

__all__ = [
    "DETECTOR_TYPES",
    "BatchingDetector",
    "Detection",
    "Detector",
    "DetectorError",
    "Letterbox",
    "ModelLayout",
    "ModelLayoutError",
    "NanoDetDetector",
    "TiledDetector",
    "YoloDetector",
    "decode_yolo_output",
    "describe_layout",
    "detect_layout",
    "letterbox",
    "load_detector",
    "model_layout",
    "with_batching",
    "with_tiling",
]
