"""Vision: sample cameras, detect people and vehicles, emit detection events with snapshots."""

from __future__ import annotations

from edge.vision.annotate import annotate, annotated_jpeg, encode_jpeg
from edge.vision.camera import CameraError, CameraSource, EndOfStream
from edge.vision.config import CameraConfig, DetectorConfig
from edge.vision.detectors import (
    DETECTOR_TYPES,
    Detection,
    Detector,
    DetectorError,
    NanoDetDetector,
    YoloDetector,
    decode_yolo_output,
    load_detector,
)
from edge.vision.events import CATEGORY_BY_LABEL, CategoryGate, DetectedObject, DetectionEvent
from edge.vision.model_files import COCO_CLASSES, ModelNotFoundError, default_model_path
from edge.vision.pipeline import CameraPipeline, PipelineStatus

__all__ = [
    "CATEGORY_BY_LABEL",
    "COCO_CLASSES",
    "DETECTOR_TYPES",
    "CameraConfig",
    "CameraError",
    "CameraPipeline",
    "CameraSource",
    "CategoryGate",
    "DetectedObject",
    "Detection",
    "DetectionEvent",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "EndOfStream",
    "ModelNotFoundError",
    "NanoDetDetector",
    "PipelineStatus",
    "YoloDetector",
    "annotate",
    "annotated_jpeg",
    "decode_yolo_output",
    "default_model_path",
    "encode_jpeg",
    "load_detector",
]
