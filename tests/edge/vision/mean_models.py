"""Tiny YOLO- and NanoDet-layout ONNX models whose scores follow the input (the mean pixel of each image), so each
row of a batch has its own answer; conftest's constant-output models cannot show per-frame batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.vision import DetectorConfig, YoloDetector, load_detector
from edge.vision.detectors.base import Detection
from tests.onnx_writer import pb_int as _int
from tests.onnx_writer import pb_msg as _msg

NAMES = ("person", "car")
COCO_PERSON, COCO_CAR = 0, 2
SIZE = 64
ANCHORS = 8


def _tensor(name: str, arr: np.ndarray) -> bytes:
    data_type = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[arr.dtype]
    dims = b"".join(_int(1, d) for d in arr.shape)
    return dims + _int(2, data_type) + _msg(8, name) + _msg(9, np.ascontiguousarray(arr).tobytes())


def _value_info(name: str, shape: list[int | str]) -> bytes:
    dims = b"".join(_msg(1, _int(1, d) if isinstance(d, int) else _msg(2, d)) for d in shape)
    return _msg(1, name) + _msg(2, _msg(1, _int(1, 1) + _msg(2, dims)))


def _node(op: str, inputs: list[str], output: str, attributes: bytes = b"") -> bytes:
    return b"".join(_msg(1, i) for i in inputs) + _msg(2, output) + _msg(3, output) + _msg(4, op) + attributes


def _ints_attr(name: str, values: tuple[int, ...]) -> bytes:
    return _msg(5, _msg(1, name) + _int(20, 7) + b"".join(_int(8, v) for v in values))  # type INTS


def mean_driven_yolo_model(batch: int | str) -> bytes:
    """Return a YOLO-layout model [B,3,S,S] -> [B,4+2,A]: anchor 0 is a car scored by the image's mean
    pixel m, anchor 1 a person scored 1 - m, the other anchors empty."""
    weight = np.zeros((1, 4 + len(NAMES), ANCHORS), np.float32)
    bias = np.zeros_like(weight)
    bias[0, :4, 0] = (20, 30, 16, 12)  # car box cx, cy, w, h in input pixels
    bias[0, :4, 1] = (44, 30, 8, 16)  # person box
    weight[0, 4 + NAMES.index("car"), 0] = 1.0
    weight[0, 4 + NAMES.index("person"), 1] = -1.0
    bias[0, 4 + NAMES.index("person"), 1] = 1.0
    graph = (
        _msg(1, _node("ReduceMean", ["images"], "mean", _ints_attr("axes", (1, 2, 3))))  # [B,1,1,1]
        + _msg(1, _node("Reshape", ["mean", "shape3"], "mean3"))  # [B,1,1]
        + _msg(1, _node("Mul", ["mean3", "weight"], "scaled"))
        + _msg(1, _node("Add", ["scaled", "bias"], "output0"))  # [B,6,A]
        + _msg(2, "mean-driven")
        + _msg(5, _tensor("weight", weight))
        + _msg(5, _tensor("bias", bias))
        + _msg(5, _tensor("shape3", np.array([-1, 1, 1], np.int64)))
        + _msg(11, _value_info("images", [batch, 3, SIZE, SIZE]))
        + _msg(12, _value_info("output0", [batch, 4 + len(NAMES), ANCHORS]))
    )
    model = _int(1, 8) + _msg(2, "outpost-tests") + _msg(7, graph) + _msg(8, _msg(1, "") + _int(2, 17))
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(NAMES)) + "}"
    return model + _msg(14, _msg(1, "names") + _msg(2, names))


def mean_driven_nanodet_model(batch: int | str) -> bytes:
    """Return a NanoDet-layout model [B,3,416,416] -> six [B,cells,80|44] outputs: on the stride-32 grid
    cell 84 holds a car scored 2m (m: the mean of the normalised input) and cell 90 a person scored 1 - 2m."""
    size = 416
    nodes = _msg(1, _node("ReduceMean", ["images"], "mean", _ints_attr("axes", (1, 2, 3))))
    nodes += _msg(1, _node("Reshape", ["mean", "shape3"], "mean3"))
    inits = _msg(5, _tensor("shape3", np.array([-1, 1, 1], np.int64)))
    outputs = b""
    for stride in (8, 16, 32):
        cells = (size // stride) ** 2
        for kind, channels in (("scores", 80), ("boxes", 44)):
            name = f"{kind}{stride}"
            weight = np.zeros((1, cells, channels), np.float32)
            bias = np.zeros_like(weight)
            if kind == "scores" and stride == 32:
                weight[0, 84, COCO_CAR] = 2.0
                weight[0, 90, COCO_PERSON] = -2.0
                bias[0, 90, COCO_PERSON] = 1.0
            nodes += _msg(1, _node("Mul", ["mean3", f"{name}_w"], f"{name}_scaled"))
            nodes += _msg(1, _node("Add", [f"{name}_scaled", f"{name}_b"], name))
            inits += _msg(5, _tensor(f"{name}_w", weight)) + _msg(5, _tensor(f"{name}_b", bias))
            outputs += _msg(12, _value_info(name, [batch, cells, channels]))
    graph = nodes + _msg(2, "mean-nanodet") + inits + _msg(11, _value_info("images", [batch, 3, size, size]))
    graph += outputs
    return _int(1, 8) + _msg(2, "outpost-tests") + _msg(7, graph) + _msg(8, _msg(1, "") + _int(2, 17))


# --- fixtures --------------------------------------------------------------------------------------------
def load_yolo(tmp_path: Path, batch: int | str) -> YoloDetector:
    path = tmp_path / f"mean-yolo-{batch}.onnx"
    path.write_bytes(mean_driven_yolo_model(batch))
    detector = load_detector(DetectorConfig(model_path=path, classes=list(NAMES), score_threshold=0.5))
    assert isinstance(detector, YoloDetector)
    return detector


def summary(dets: list[Detection]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 4), tuple(round(v, 2) for v in d.box)) for d in dets]


# --- tests -------------------------------------------------------------------------------------------------
