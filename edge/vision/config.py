"""Validated configuration for the vision subsystem: detectors and cameras."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


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
    threads: int = Field(default=2, ge=1, le=64, description="onnxruntime intra-op threads.")
    score_threshold: float = Field(
        default=0.35, ge=0.0, le=1.0, description="Minimum score for a detection to be kept."
    )
    nms_iou: float = Field(
        default=0.5, gt=0.0, le=1.0, description="IoU above which overlapping boxes of a class are merged."
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
        unknown = sorted(set(self.class_thresholds) - set(self.classes))
        if unknown:
            raise ValueError(f"class_thresholds has labels not listed in classes: {unknown}")
        bad = sorted(k for k, v in self.class_thresholds.items() if not 0.0 <= v <= 1.0)
        if bad:
            raise ValueError(f"class_thresholds must be within [0, 1]: {bad}")
        return self


class CameraConfig(BaseModel):
    """One camera: where its video comes from and how often to sample it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Stable slug used in topics, file names and URLs.",
    )
    name: str = Field(min_length=1, description="Human-readable camera name.")
    zone: str | None = Field(default=None, description="Site zone the camera watches, if any.")
    source: str = Field(min_length=1, description="Video file path or rtsp:// URL.")
    fps: float = Field(default=2.0, gt=0.0, le=30.0, description="Frames per second sampled for detection.")
    loop: bool = Field(default=True, description="Restart a video file when it ends.")
    enabled: bool = Field(default=True, description="Whether the camera is processed at all.")
