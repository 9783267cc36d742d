"""Vision: sample cameras, gate on motion, detect and track people and vehicles, emit events with snapshots."""

from __future__ import annotations

from edge.vision.analyzer import CameraAnalyzer, FrameResult
from edge.vision.annotate import annotate, annotated_jpeg, encode_jpeg
from edge.vision.camera import CameraError, CameraSource, EndOfStream, source_kind
from edge.vision.config import (
    CameraConfig,
    DetectorConfig,
    LineConfig,
    MotionConfig,
    TrackingConfig,
    ZoneRegionConfig,
)
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
from edge.vision.events import (
    CATEGORY_BY_LABEL,
    CategoryGate,
    DetectedObject,
    DetectionEvent,
    TrackEvent,
    TrackEventKind,
)
from edge.vision.gating import InferencePlan, InferencePlanner
from edge.vision.grabber import FrameGrabber, SampledFrame
from edge.vision.model_files import COCO_CLASSES, ModelNotFoundError, default_model_path
from edge.vision.motion import MotionDetector, MotionResult
from edge.vision.pipeline import CameraPipeline, OnDetection, OnFrame, OnTrackEvent, PipelineStatus
from edge.vision.tracking import Track, Tracker
from edge.vision.zones import RegionEvent, SceneAnalytics

__all__ = [
    "CATEGORY_BY_LABEL",
    "COCO_CLASSES",
    "CameraAnalyzer",
    "CameraConfig",
    "CameraError",
    "CameraPipeline",
    "CameraSource",
    "CategoryGate",
    "DETECTOR_TYPES",
    "DetectedObject",
    "Detection",
    "DetectionEvent",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "EndOfStream",
    "FrameGrabber",
    "FrameResult",
    "InferencePlan",
    "InferencePlanner",
    "LineConfig",
    "ModelNotFoundError",
    "MotionConfig",
    "MotionDetector",
    "MotionResult",
    "NanoDetDetector",
    "OnDetection",
    "OnFrame",
    "OnTrackEvent",
    "PipelineStatus",
    "RegionEvent",
    "SampledFrame",
    "SceneAnalytics",
    "Track",
    "TrackEvent",
    "TrackEventKind",
    "Tracker",
    "TrackingConfig",
    "YoloDetector",
    "ZoneRegionConfig",
    "annotate",
    "annotated_jpeg",
    "decode_yolo_output",
    "default_model_path",
    "encode_jpeg",
    "load_detector",
    "source_kind",
]
