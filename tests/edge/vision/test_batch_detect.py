"""Batched detection: one session.run for N frames when the batch is dynamic, else a per-frame loop.

conftest's `write_onnx` builds constant-output models: their output keeps batch 1 whatever the input
batch, so they cannot show per-frame batching. The tiny models of mean_models.py compute their scores
from the input (the mean pixel of each image), so each row of a batch has its own answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from edge.vision import DetectorConfig, NanoDetDetector, load_detector
from edge.vision.detectors.base import Detection, Detector
from edge.vision.detectors.batch import has_dynamic_batch, run_stacked, supports_batching
from tests.edge.vision.mean_models import (
    load_yolo,
    mean_driven_nanodet_model,
    summary,
)


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
