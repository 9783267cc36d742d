"""The first-cut event rule and category grouping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.vision import CameraConfig, CategoryGate, Detection, DetectionEvent, DetectorConfig
from edge.vision.events import detections_by_category


def det(label: str, score: float, x1: float = 0, y1: float = 0, x2: float = 10, y2: float = 10) -> Detection:
    return Detection(label, 0, score, x1, y1, x2, y2)


def test_gate_emits_on_appearance_and_change_with_a_minimum_interval() -> None:
    gate = CategoryGate(min_interval_s=5.0)

    assert gate.update({"person": 0, "vehicle": 0}, now=0.0) == []
    assert gate.update({"person": 2, "vehicle": 0}, now=1.0) == ["person"]  # appeared
    assert gate.update({"person": 2, "vehicle": 1}, now=2.0) == ["vehicle"]  # per-category interval
    assert gate.update({"person": 2, "vehicle": 1}, now=7.0) == []  # unchanged
    assert gate.update({"person": 3, "vehicle": 1}, now=4.0) == []  # changed, but too soon
    assert gate.update({"person": 3, "vehicle": 1}, now=6.5) == ["person"]  # still changed, now allowed
    assert gate.update({"person": 0, "vehicle": 1}, now=7.0) == []  # leaving is not an event
    assert gate.update({"person": 1, "vehicle": 1}, now=8.0) == []  # reappeared too soon
    assert gate.update({"person": 1, "vehicle": 1}, now=12.0) == ["person"]


def test_grouping_maps_vehicles_and_merges_one_van_seen_as_three_classes() -> None:
    detections = [
        det("person", 0.8, 0, 0, 10, 20),
        det("person", 0.7, 30, 0, 40, 20),
        det("truck", 0.59, 652, 44, 725, 99),
        det("bus", 0.34, 651, 45, 728, 98),
        det("car", 0.32, 652, 46, 727, 98),
        det("car", 0.5, 733, 52, 768, 95),
        det("dog", 0.9),
    ]

    grouped = detections_by_category(detections)

    assert [d.score for d in grouped["person"]] == [0.8, 0.7]
    assert [(d.label, d.score) for d in grouped["vehicle"]] == [("truck", 0.59), ("car", 0.5)]


def test_event_requires_an_aware_timestamp() -> None:
    fields: dict[str, object] = {"camera_id": "gate", "zone": None, "category": "person", "count": 1}
    aware = {**fields, "detections": [], "occurred_at": datetime.now(UTC), "snapshot_path": "a.jpg"}
    assert DetectionEvent.model_validate(aware).snapshot_path == Path("a.jpg")
    naive = {**aware, "occurred_at": datetime.now()}  # noqa: DTZ005
    with pytest.raises(ValidationError, match="timezone"):
        DetectionEvent.model_validate(naive)


def test_config_validation() -> None:
    cam = CameraConfig(id="gate-1", name="Gate", source="rtsp://cam/1")
    assert (cam.fps, cam.loop, cam.enabled, cam.zone) == (2.0, True, True, None)
    base: dict[str, object] = {"id": "gate-1", "name": "Gate", "source": "a.mp4"}
    for bad in ({"id": "Gate 1"}, {"fps": 0}, {"fps": 31}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            CameraConfig.model_validate({**base, **bad})

    assert DetectorConfig().classes == ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    with pytest.raises(ValidationError, match="not listed in classes"):
        DetectorConfig(class_thresholds={"dog": 0.5})
    with pytest.raises(ValidationError):
        DetectorConfig.model_validate({"type": "ssd"})
