"""Detect on frames from several cameras with one inference call when the model takes a batch.

An ONNX input whose batch dimension is symbolic (``"batch"``), unknown or -1 accepts N images at once:
the frames are preprocessed one by one exactly as `Detector.detect` does, stacked, run through one
`session.run`, and each row is decoded with the backend's own decoder. A fixed batch of 1 (the shared
NanoDet file) or an unknown backend falls back to calling `detect` per frame. Either way the result
equals `[detector.detect(f) for f in frames]`.

The backends do not expose their session, output names and thresholds yet, so `_NanoDetBatch` and
`_YoloBatch` read them from the detector's private attributes in one place each; see the report on
the refactor (`Detector.session`, `output_names`, `postprocess`) that would make them public.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort

from edge.vision.detectors.base import Detection, Detector, to_detections
from edge.vision.detectors.nanodet import STRIDES, NanoDetDetector
from edge.vision.detectors.yolo import YoloDetector, decode_yolo_output

DEFAULT_MAX_BATCH = 8

BatchRunner = Callable[[Sequence[np.ndarray]], list[list[Detection]]]


def session_of(detector: Detector) -> ort.InferenceSession:
    """Return the detector's onnxruntime session."""
    return detector._session  # noqa: SLF001 - see the module docstring


def has_dynamic_batch(session: ort.InferenceSession) -> bool:
    """Return whether the model's first input takes any batch size (symbolic, unknown or -1 dim)."""
    shape = session.get_inputs()[0].shape
    if not shape:
        return False
    batch = shape[0]
    return not isinstance(batch, int) or batch <= 0


def supports_batching(detector: Detector) -> bool:
    """Return whether detect_batch can run this detector's frames in one inference."""
    return _runner(detector) is not None


def detect_batch(
    detector: Detector, frames: Sequence[np.ndarray], max_batch: int = DEFAULT_MAX_BATCH
) -> list[list[Detection]]:
    """Detect objects in each BGR frame; one session.run per `max_batch` frames when the model allows.

    Blocking and thread-safe like `Detector.detect`; frames may differ in size.
    """
    if max_batch < 1:
        raise ValueError("max_batch must be at least 1")
    runner = _runner(detector) if len(frames) > 1 else None
    if runner is None:
        return [detector.detect(frame) for frame in frames]
    results: list[list[Detection]] = []
    for start in range(0, len(frames), max_batch):
        chunk = frames[start : start + max_batch]
        results.extend(runner(chunk) if len(chunk) > 1 else [detector.detect(chunk[0])])
    return results


def _runner(detector: Detector) -> BatchRunner | None:
    """Return a batched runner for the detector, or None when it must run frame by frame."""
    if not has_dynamic_batch(session_of(detector)):
        return None
    # Exact types: a subclass may change detect() in ways a batched runner would not reproduce.
    if type(detector) is NanoDetDetector:
        return _NanoDetBatch(detector)
    if type(detector) is YoloDetector:
        return _YoloBatch(detector)
    return None


class _NanoDetBatch:
    """NanoDetDetector.detect over a batch: stacked inputs, per-row decode."""

    def __init__(self, detector: NanoDetDetector) -> None:
        self._det = detector

    def __call__(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        det = self._det
        names = det._score_names + det._box_names  # noqa: SLF001
        x = np.concatenate([det.preprocess(frame) for frame in frames])
        outputs = session_of(det).run(names, {det._input_name: x})  # noqa: SLF001
        n = len(STRIDES)
        results: list[list[Detection]] = []
        for i, frame in enumerate(frames):
            scores = np.concatenate([o[i] for o in outputs[:n]], axis=0)
            dists = np.concatenate([o[i] for o in outputs[n:]], axis=0)
            boxes, kept_scores, class_ids = det.decode(scores, dists)
            h, w = frame.shape[:2]
            boxes[:, 0::2] *= w / det.input_size
            boxes[:, 1::2] *= h / det.input_size
            results.append(to_detections(boxes, kept_scores, class_ids, det.class_names, (h, w)))
        return results


class _YoloBatch:
    """YoloDetector.detect over a batch: letterboxed inputs stacked, each output row decoded."""

    def __init__(self, detector: YoloDetector) -> None:
        self._det = detector

    def __call__(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        det = self._det
        prepared = [det.preprocess(frame) for frame in frames]
        x = np.concatenate([tensor for tensor, _ in prepared])
        (output,) = session_of(det).run([det._output_name], {det._input_name: x})  # noqa: SLF001
        if output.shape[0] != len(frames):
            # A graph that ignores the batch (a constant head) cannot be split per frame.
            return [det.detect(frame) for frame in frames]
        return [
            decode_yolo_output(
                output[i : i + 1],
                det.class_names,
                det._thresholds,  # noqa: SLF001
                det._cfg.nms_iou,  # noqa: SLF001
                frame.shape[:2],
                geometry,
            )
            for i, (frame, (_, geometry)) in enumerate(zip(frames, prepared, strict=True))
        ]
