"""Batched detection: one session.run for N frames when the batch is dynamic, else a per-frame loop.

conftest's `write_onnx` builds constant-output models: their output keeps batch 1 whatever the input
batch, so they cannot show per-frame batching. The tiny YOLO-layout model here computes its scores
from the input (the mean pixel of each image), so each row of a batch has its own answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from edge.vision import DetectorConfig, NanoDetDetector, YoloDetector, load_detector
from edge.vision.detectors.base import Detection, Detector
from edge.vision.detectors.batch import has_dynamic_batch, run_stacked, supports_batching
from tests.onnx_writer import pb_int as _int
from tests.onnx_writer import pb_msg as _msg

NAMES = ("person", "car")
COCO_PERSON, COCO_CAR = 0, 2
SIZE = 64
ANCHORS = 8


def detect_batch(detector: Detector, frames: Sequence[np.ndarray], max_batch: int = 8) -> list[list[Detection]]:
    """Detect in each frame, one session.run per `max_batch` frames when the model allows (as BatchingDetector).

    Blocking and thread-safe like `Detector.detect`; frames may differ in size.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    if len(frames) <= 1 or not supports_batching(detector):
        return [detector.detect(frame) for frame in frames]
    results: list[list[Detection]] = []
    for start in range(0, len(frames), max_batch):
        chunk = frames[start : start + max_batch]
        prepared = [detector.preprocess(frame) for frame in chunk]
        per_image = run_stacked(detector, [tensor for tensor, _ in prepared])
        results.extend(
            [d for d in detector.flag_weak(detector.postprocess(outputs, frame.shape[:2], geometry)) if not d.weak]
            for frame, (_, geometry), outputs in zip(chunk, prepared, per_image, strict=True)
        )
    return results


# The minimal ONNX protobuf writer lives in the vision conftest (field numbers from onnx.proto).


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


@pytest.fixture
def frames(frame_100: np.ndarray) -> list[np.ndarray]:
    """Real frames whose mean pixel differs: the vtest frame, its negative, and a crop of it."""
    return [frame_100, 255 - frame_100, np.ascontiguousarray(frame_100[100:400, 50:650])]


def count_runs(monkeypatch: pytest.MonkeyPatch, session: ort.InferenceSession) -> list[int]:
    """Record the batch size of every session.run call."""
    sizes: list[int] = []
    original: Callable[..., Any] = session.run

    def run(output_names: Any, feed: dict[str, np.ndarray], *args: Any) -> Any:
        sizes.append(next(iter(feed.values())).shape[0])
        return original(output_names, feed, *args)

    monkeypatch.setattr(session, "run", run)
    return sizes


def summary(dets: list[Detection]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 4), tuple(round(v, 2) for v in d.box)) for d in dets]


# --- tests -------------------------------------------------------------------------------------------------
def test_dynamic_batch_runs_once_and_matches_per_frame_results(
    tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = load_yolo(tmp_path, "batch")
    assert has_dynamic_batch(detector.session)
    assert supports_batching(detector)
    expected = [detector.detect(f) for f in frames]
    sizes = count_runs(monkeypatch, detector.session)

    results = detect_batch(detector, frames)

    assert sizes == [3]
    assert [summary(r) for r in results] == [summary(e) for e in expected]
    # Each row was decoded with its own frame: the negative is bright (car), the frame dark (person).
    assert [[d.label for d in r] for r in results] == [["person"], ["car"], ["person"]]
    # The crop's boxes are mapped with its own letterbox, not the full frame's.
    assert results[2][0].box != results[0][0].box


def test_max_batch_splits_the_frames(tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    detector = load_yolo(tmp_path, "N")
    five = frames + frames[:2]
    expected = [summary(detector.detect(f)) for f in five]
    sizes = count_runs(monkeypatch, detector.session)

    results = detect_batch(detector, five, max_batch=2)

    assert sizes == [2, 2, 1]
    assert [summary(r) for r in results] == expected


def test_fixed_batch_yolo_falls_back_to_a_loop(
    tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = load_yolo(tmp_path, 1)
    assert not supports_batching(detector)
    expected = [summary(detector.detect(f)) for f in frames]
    sizes = count_runs(monkeypatch, detector.session)

    results = detect_batch(detector, frames)

    assert sizes == [1, 1, 1]
    assert [summary(r) for r in results] == expected


def test_shared_nanodet_has_a_fixed_batch_and_loops(
    nanodet: NanoDetDetector, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert nanodet.session.get_inputs()[0].shape[0] == 1
    assert not has_dynamic_batch(nanodet.session)
    expected = [summary(nanodet.detect(f)) for f in frames]
    sizes = count_runs(monkeypatch, nanodet.session)

    results = detect_batch(nanodet, frames)

    assert sizes == [1, 1, 1]
    assert [summary(r) for r in results] == expected
    assert sum(d.label == "person" for d in results[0]) >= 5  # real detections, not empty lists


def test_dynamic_batch_nanodet_layout_runs_once(
    tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mean-nanodet.onnx"
    path.write_bytes(mean_driven_nanodet_model("batch"))
    detector = load_detector(DetectorConfig(model_path=path, score_threshold=0.5))
    assert isinstance(detector, NanoDetDetector)
    assert supports_batching(detector)
    expected = [summary(detector.detect(f)) for f in frames]
    sizes = count_runs(monkeypatch, detector.session)

    results = detect_batch(detector, frames)

    assert sizes == [3]
    assert [summary(r) for r in results] == expected
    # NanoDet normalises per channel: the frame averages ~0 (person), its negative and the crop are brighter.
    assert [[d.label for d in r] for r in results] == [["person"], ["car"], ["car"]]
    # Stretch-resize: the crop's box is scaled with its own size.
    assert results[1][0].box != results[2][0].box


def test_no_frames_and_bad_max_batch(nanodet: NanoDetDetector, frame_100: np.ndarray) -> None:
    assert detect_batch(nanodet, []) == []
    with pytest.raises(ValueError, match="max_batch"):
        detect_batch(nanodet, [frame_100], max_batch=0)
