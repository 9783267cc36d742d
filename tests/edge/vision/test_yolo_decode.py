"""YOLO (Ultralytics export) decoding from hand-built raw outputs and tiny ONNX models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edge.vision import (
    COCO_CLASSES,
    DetectorConfig,
    DetectorError,
    YoloDetector,
    decode_yolo_output,
    load_detector,
)
from edge.vision.detectors import Letterbox, letterbox

NC = len(COCO_CLASSES)
CAR = COCO_CLASSES.index("car")
PERSON = COCO_CLASSES.index("person")
FRAME_HW = (576, 768)


def raw_output(anchors: list[tuple[float, float, float, float, int, float]], n: int = 16) -> np.ndarray:
    """Return a [1, 4+nc, n] output holding (cx, cy, w, h, class, score) per anchor, the rest empty."""
    out = np.zeros((1, 4 + NC, n), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(anchors):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


ANCHORS = [
    (100.0, 80.0, 40.0, 60.0, CAR, 0.9),  # -> box (80, 50, 120, 110)
    (102.0, 82.0, 40.0, 60.0, CAR, 0.6),  # same car, lower score: removed by NMS
    (101.0, 81.0, 40.0, 60.0, PERSON, 0.7),  # same place, other class: kept (class-wise NMS)
    (400.0, 300.0, 20.0, 20.0, CAR, 0.2),  # below threshold
]


@pytest.mark.parametrize("transposed", [False, True], ids=["channels-first", "transposed"])
def test_decode_known_boxes(transposed: bool) -> None:
    output = raw_output(ANCHORS)
    if transposed:
        output = np.ascontiguousarray(output.transpose(0, 2, 1))

    detections = decode_yolo_output(output, COCO_CLASSES, 0.25, 0.5, FRAME_HW)

    assert [(d.label, d.class_id, round(d.score, 3)) for d in detections] == [
        ("car", CAR, 0.9),
        ("person", PERSON, 0.7),
    ]
    assert detections[0].box == pytest.approx((80.0, 50.0, 120.0, 110.0))


def test_decode_keeps_the_best_allowed_class_per_anchor() -> None:
    output = raw_output([(100.0, 80.0, 40.0, 60.0, CAR, 0.9)])
    output[0, 4 + PERSON, 0] = 0.5
    thresholds = np.full(NC, np.inf, dtype=np.float32)
    thresholds[PERSON] = 0.3  # cars are not wanted, so the anchor counts as its runner-up class

    detections = decode_yolo_output(output, COCO_CLASSES, thresholds, 0.5, FRAME_HW)

    assert [(d.label, round(d.score, 3)) for d in detections] == [("person", 0.5)]


def test_decode_maps_letterbox_back_and_clips() -> None:
    geometry = Letterbox(scale=0.5, pad_x=0.0, pad_y=32.0)
    output = raw_output([(100.0, 82.0, 40.0, 60.0, CAR, 0.9), (380.0, 100.0, 20.0, 20.0, PERSON, 0.8)])

    detections = decode_yolo_output(output, COCO_CLASSES, 0.25, 0.5, FRAME_HW, geometry)

    assert detections[0].box == pytest.approx((160.0, 40.0, 240.0, 160.0))
    assert detections[1].box == pytest.approx((740.0, 116.0, 768.0, 156.0))  # x2 clipped from 780


def test_decode_rejects_a_mismatched_class_count() -> None:
    with pytest.raises(DetectorError, match="does not fit 80 classes"):
        decode_yolo_output(np.zeros((1, 10, 50), np.float32), COCO_CLASSES, 0.25, 0.5, FRAME_HW)


def test_letterbox_pads_centred() -> None:
    frame = np.full((576, 768, 3), 255, dtype=np.uint8)

    image, geometry = letterbox(frame, 640)

    assert image.shape == (640, 640, 3)
    assert geometry == Letterbox(scale=640 / 768, pad_x=0.0, pad_y=80.0)
    assert (image[:80] == 114).all() and (image[80:560] == 255).all() and (image[560:] == 114).all()


def test_yolo_model_end_to_end(write_onnx: Callable[..., Path]) -> None:
    # A 64x64 model with custom class names; its constant output holds one forklift box in input pixels.
    names = {0: "person", 1: "forklift"}
    output = np.zeros((1, 6, 8), dtype=np.float32)
    output[0, :, 2] = (32.0, 32.0, 16.0, 16.0, 0.0, 0.8)
    path = write_onnx([1, 3, 64, 64], output, {"names": repr(names), "stride": "32"})

    detector = load_detector(DetectorConfig(type="auto", model_path=path, classes=["forklift"]))
    detections = detector.detect(np.zeros((*FRAME_HW, 3), dtype=np.uint8))

    assert isinstance(detector, YoloDetector)
    assert detector.class_names == ("person", "forklift")
    assert detector.input_size == 64
    # 768x576 -> scale 1/12, 64x48 padded by 8 rows top: (24..40, 24..40) -> (288..480, 192..384).
    assert [(d.label, d.class_id) for d in detections] == [("forklift", 1)]
    assert detections[0].box == pytest.approx((288.0, 192.0, 480.0, 384.0))


def test_yolo_dynamic_input_uses_imgsz_metadata(write_onnx: Callable[..., Path]) -> None:
    output = np.zeros((1, 8400, 4 + NC), dtype=np.float32)
    path = write_onnx([1, 3, "height", "width"], output, {"imgsz": "[320, 320]"})

    detector = load_detector(DetectorConfig(type="yolo", model_path=path))

    assert detector.input_size == 320
    assert detector.class_names == COCO_CLASSES
    assert detector.detect(np.zeros((*FRAME_HW, 3), dtype=np.uint8)) == []


def test_yolo_rejects_unknown_classes_only(write_onnx: Callable[..., Path]) -> None:
    path = write_onnx([1, 3, 64, 64], np.zeros((1, 6, 8), np.float32), {"names": "{0: 'a', 1: 'b'}"})

    with pytest.raises(DetectorError, match="none of the configured classes"):
        load_detector(DetectorConfig(model_path=path))


@pytest.mark.parametrize("size", [320, 416, 640])
def test_yolo_dynamic_input_takes_the_configured_size(write_onnx: Callable[..., Path], size: int) -> None:
    output = np.zeros((1, 8400, 4 + NC), dtype=np.float32)
    path = write_onnx([1, 3, "height", "width"], output, {"imgsz": "[640, 640]"})

    detector = load_detector(DetectorConfig(type="yolo", model_path=path, input_size=size, threads=1))

    assert detector.input_size == size
    assert detector.detect(np.zeros((*FRAME_HW, 3), dtype=np.uint8)) == []


def test_yolo_rejects_sizes_off_the_stride_and_fixed_models_reject_others(write_onnx: Callable[..., Path]) -> None:
    dynamic = write_onnx([1, 3, "height", "width"], np.zeros((1, 8400, 4 + NC), np.float32), {})
    with pytest.raises(DetectorError, match="multiple of the largest stride"):
        load_detector(DetectorConfig(type="yolo", model_path=dynamic, input_size=300))
    fixed = write_onnx([1, 3, 64, 64], np.zeros((1, 6, 8), np.float32), {"names": "{0: 'person', 1: 'forklift'}"})
    with pytest.raises(DetectorError, match="input_size 320 differs from the model's fixed size 64"):
        load_detector(DetectorConfig(type="yolo", model_path=fixed, input_size=320, classes=["forklift"]))
