"""Object detection settings shared by all cameras."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import Section
from edge.vision.clips import ClipConfig
from edge.vision.config import DetectorConfig
from edge.vision.frame_ring import FrameRingConfig
from edge.vision.plates import PlateReaderConfig
from edge.vision.retention import RetentionPolicy


class VisionConfig(Section):
    """Object detection settings shared by all cameras."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Detector backend")
    plates: PlateReaderConfig = Field(default_factory=PlateReaderConfig, description="Licence plate reading")
    clips: ClipConfig = Field(default_factory=ClipConfig, description="Event clips")
    door_frames: FrameRingConfig = Field(
        default_factory=FrameRingConfig,
        description="Recent frames a door camera keeps to link each decision to the frame of its moment",
    )
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy, description="Age/disk budget of snapshots and clips"
    )
