"""Detect on several frames with one inference call when the model takes a batch.

An ONNX input whose batch dimension is symbolic (``"batch"``), unknown or -1 accepts N images at once:
each frame is preprocessed exactly as `Detector.detect` does, the tensors are stacked, run through one
`session.run`, and each image's rows are postprocessed with its own frame size and geometry. A fixed
batch of 1 (the shared NanoDet file) falls back to calling `detect` per frame. `BatchingDetector`
(batching.py) gathers concurrent callers' frames into such batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from edge.vision.detectors.base import Detector


def has_dynamic_batch(session: ort.InferenceSession) -> bool:
    """Return whether the model's first input takes any batch size (symbolic, unknown or -1 dim)."""
    shape = session.get_inputs()[0].shape
    if not shape:
        return False
    batch = shape[0]
    return not isinstance(batch, int) or batch <= 0


def supports_batching(detector: Detector) -> bool:
    """Return whether several of this detector's frames can run in one inference."""
    return has_dynamic_batch(detector.session)


def run_stacked(detector: Detector, tensors: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
    """Run preprocessed [1,...] tensors in one session.run; return each image's outputs (batch axis 1).

    Blocking and thread-safe. A graph whose outputs ignore the batch (a constant head) cannot be
    split per image: its tensors are then run one by one.
    """
    feed = tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
    outputs = detector.run(feed)
    n = len(tensors)
    if n > 1 and any(o.shape[0] != n for o in outputs):
        return [detector.run(t) for t in tensors]
    return [[o[i : i + 1] for o in outputs] for i in range(n)]
