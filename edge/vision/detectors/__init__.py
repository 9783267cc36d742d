"""Object detector backends behind one small Detector contract."""

from __future__ import annotations

from edge.vision.detectors.base import Detection, Detector, DetectorError
from edge.vision.detectors.batching import BatchingDetector, with_batching
from edge.vision.detectors.layout import ModelLayout, ModelLayoutError, describe_layout, model_layout
from edge.vision.detectors.nanodet import NanoDetDetector
from edge.vision.detectors.registry import DETECTOR_TYPES, detect_layout, load_detector
from edge.vision.detectors.yolo import Letterbox, YoloDetector, decode_yolo_output, letterbox

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
    "YoloDetector",
    "decode_yolo_output",
    "describe_layout",
    "detect_layout",
    "letterbox",
    "load_detector",
    "model_layout",
    "with_batching",
]
