"""Vision fixtures: a loaded NanoDet detector, a real video frame, tiny YOLO-layout ONNX models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import DetectorConfig, NanoDetDetector, SampledFrame, load_detector
from tests.onnx_writer import constant_output_model

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

# shared_dir and its files (vtest_path, nanodet_path, blazeface_path) come from tests/conftest.py; they fail,
# never skip, when absent.


@pytest.fixture(scope="session")
def nanodet(nanodet_path: Path) -> NanoDetDetector:
    """Return the NanoDet detector with the default classes, thresholds and track floor (as the edge runs it)."""
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    assert isinstance(detector, NanoDetDetector)
    return detector


@pytest.fixture(scope="session")
def frame_100(vtest_path: Path) -> np.ndarray:
    """Return frame 100 of vtest.avi (BGR)."""
    cap = cv2.VideoCapture(str(vtest_path), cv2.CAP_FFMPEG)
    try:
        for _ in range(100):
            assert cap.grab()
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok
    return frame


def read_frames(path: Path, every: int = 1, limit: int | None = None) -> Iterator[np.ndarray]:
    """Yield every `every`-th frame of a video (all decoded, as a camera source would), up to `limit`."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        index = yielded = 0
        while limit is None or yielded < limit:
            ok, frame = cap.read()
            if not ok:
                return
            if index % every == 0:
                yield frame
                yielded += 1
            index += 1
    finally:
        cap.release()


def sampled(frames: Iterator[np.ndarray], fps: float = 5.0, start: int = 0) -> Iterator[SampledFrame]:
    """Wrap frames as a camera would deliver them at `fps`: media time and wall time advance together."""
    for i, image in enumerate(frames, start):
        yield SampledFrame(image, i / fps, T0 + timedelta(seconds=i / fps), i)


@pytest.fixture(scope="session")
def plaza_background(vtest_path: Path) -> np.ndarray:
    """Return the plaza without people: the per-pixel median of every 16th frame of vtest.avi."""
    frames = np.stack(list(read_frames(vtest_path, every=16)))
    return np.median(frames, axis=0).astype(np.uint8)


@pytest.fixture(scope="session")
def short_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the first 20 s of vtest.avi (200 frames, 10 fps) re-encoded as MPEG-4 in a temporary file."""
    path = tmp_path_factory.mktemp("clips") / "plaza-20s.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (768, 576))
    try:
        for frame in read_frames(vtest_path, limit=200):
            writer.write(frame)
    finally:
        writer.release()
    return path


@pytest.fixture
def write_onnx(tmp_path: Path) -> Callable[[list[int | str], np.ndarray, dict[str, str]], Path]:
    """Return a function that writes a constant-output ONNX model into tmp_path."""

    def write(input_shape: list[int | str], output: np.ndarray, metadata: dict[str, str]) -> Path:
        path = tmp_path / "model.onnx"
        path.write_bytes(constant_output_model(input_shape, output, metadata))
        return path

    return write
