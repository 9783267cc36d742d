"""BatchingDetector: concurrent detect() calls from executor threads share session.run calls.

Real threads (a ThreadPoolExecutor, as the app's vision executor) and the real tiny dynamic-batch
YOLO-layout model of test_batch_detect. The tiny model runs in about a millisecond, so to make batches
form deterministically a `RunGate` can hold one session.run open while other callers queue behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.vision import DetectorConfig, NanoDetDetector, YoloDetector
from edge.vision.detectors import BatchingDetector, DetectorError, with_batching
from tests.edge.site import site_config_dict
from tests.edge.vision.mean_models import load_yolo, mean_driven_yolo_model, summary
from tests.polling import eventually

WAIT_S = 10.0  # bound on every wait in these tests, so a deadlock fails instead of hanging


class RunGate:
    """Wrap session.run: record each call's batch size; optionally hold the next call or fail batched calls."""

    def __init__(self, session: ort.InferenceSession, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.released = threading.Event()
        self.released.set()
        self.fail_batches = False
        original: Callable[..., Any] = session.run

        def run(output_names: Any, feed: dict[str, np.ndarray], *args: Any) -> Any:
            size = next(iter(feed.values())).shape[0]
            self.sizes.append(size)
            self.entered.set()
            if not self.released.wait(WAIT_S):
                raise TimeoutError("the test never released the run")
            if self.fail_batches and size > 1:
                raise RuntimeError("inference failed")
            return original(output_names, feed, *args)

        monkeypatch.setattr(session, "run", run)

    def hold(self) -> None:
        """Make the next run wait until `release`."""
        self.entered.clear()
        self.released.clear()

    def release(self) -> None:
        self.released.set()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


@pytest.fixture
def yolo(tmp_path: Path) -> YoloDetector:
    return load_yolo(tmp_path, "batch")


@pytest.fixture
def four_frames(frame_100: np.ndarray) -> list[np.ndarray]:
    """Four real frames with different mean pixels and sizes (so different results and letterboxes)."""
    return [
        frame_100,
        255 - frame_100,
        np.ascontiguousarray(frame_100[100:400, 50:650]),
        np.ascontiguousarray(255 - frame_100[:, :300]),
    ]


def held_batch(
    detector: BatchingDetector, gate: RunGate, pool: ThreadPoolExecutor, first: np.ndarray, queued: list[np.ndarray]
) -> list[Future[Any]]:
    """Start `first` and hold its run; queue `queued` behind it; return the futures (not yet released)."""
    gate.hold()
    futures = [pool.submit(detector.detect, first)]
    assert gate.entered.wait(WAIT_S)
    futures += [pool.submit(detector.detect, frame) for frame in queued]
    wait_until(lambda: detector.pending == len(queued))
    return futures


def test_concurrent_callers_share_one_run_and_get_their_own_results(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [summary(yolo.detect(f)) for f in four_frames]
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=5)

    with ThreadPoolExecutor(4) as pool:
        futures = held_batch(detector, gate, pool, four_frames[0], four_frames[1:])
        gate.release()
        results = [summary(f.result(WAIT_S)) for f in futures]

    # The first frame found the detector idle and ran alone; the three that queued behind it ran together.
    assert gate.sizes == [1, 3]
    assert results == expected
    assert [[d[0] for d in r] for r in results] == [["person"], ["car"], ["person"], ["car"]]
    assert detector.stats == {"runs": 2, "frames": 4}
    assert detector.pending == 0


def test_max_batch_caps_a_run_and_the_rest_form_the_next(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = four_frames + four_frames[:2]
    expected = [summary(yolo.detect(f)) for f in frames]
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=2, max_wait_ms=0)

    with ThreadPoolExecutor(6) as pool:
        futures = held_batch(detector, gate, pool, frames[0], frames[1:])
        gate.release()
        results = [summary(f.result(WAIT_S)) for f in futures]

    assert gate.sizes == [1, 2, 2, 1]
    assert results == expected


def test_free_running_threads_match_sequential_results(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No gate: four camera threads call detect 25 times each, as fast as they can."""
    expected = [summary(yolo.detect(f)) for f in four_frames]
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=1)

    def camera(index: int) -> list[Any]:
        return [summary(detector.detect(four_frames[index])) for _ in range(25)]

    with ThreadPoolExecutor(4) as pool:
        per_camera = list(pool.map(camera, range(4), timeout=WAIT_S * 3))

    assert per_camera == [[expected[i]] * 25 for i in range(4)]
    assert sum(gate.sizes) == 100 and max(gate.sizes) <= 4
    assert detector.stats == {"runs": len(gate.sizes), "frames": 100}


def test_a_single_caller_runs_at_once_without_max_wait(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [summary(yolo.detect(f)) for f in four_frames]
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=2000)

    started = time.monotonic()
    results = [summary(detector.detect(f)) for f in four_frames]
    elapsed = time.monotonic() - started

    assert results == expected
    assert gate.sizes == [1, 1, 1, 1]
    assert elapsed < 1.0, f"four lone frames took {elapsed:.2f} s; max_wait is 2 s"


def test_a_queued_batch_waits_to_fill_and_starts_when_full(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=2, max_wait_ms=30_000)

    with ThreadPoolExecutor(3) as pool:
        futures = held_batch(detector, gate, pool, four_frames[0], four_frames[1:2])
        gate.release()
        futures[0].result(WAIT_S)
        # The promoted leader waits for a second frame (up to 30 s); this one fills the batch.
        started = time.monotonic()
        futures.append(pool.submit(detector.detect, four_frames[2]))
        for f in futures:
            f.result(WAIT_S)
        elapsed = time.monotonic() - started

    assert gate.sizes == [1, 2]
    assert elapsed < 5.0


def test_a_partial_batch_runs_after_max_wait(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=50)

    with ThreadPoolExecutor(2) as pool:
        futures = held_batch(detector, gate, pool, four_frames[0], four_frames[1:2])
        gate.release()
        results = [f.result(WAIT_S) for f in futures]

    assert gate.sizes == [1, 1]
    assert [[d.label for d in r] for r in results] == [["person"], ["car"]]


def test_a_session_error_reaches_every_caller_of_the_batch(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=0)

    with ThreadPoolExecutor(4) as pool:
        futures = held_batch(detector, gate, pool, four_frames[0], four_frames[1:])
        gate.fail_batches = True
        gate.release()
        first = futures[0].result(WAIT_S)
        errors = [f.exception(WAIT_S) for f in futures[1:]]

    assert [d.label for d in first] == ["person"]
    assert gate.sizes == [1, 3]
    assert all(isinstance(e, RuntimeError) and str(e) == "inference failed" for e in errors), errors
    # Nothing is left stuck: the next frame runs at once.
    assert [d.label for d in detector.detect(four_frames[1])] == ["car"]
    assert detector.pending == 0


def test_close_answers_queued_frames_refuses_new_ones_and_leaves_no_threads(
    yolo: YoloDetector, four_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(threading.enumerate())
    gate = RunGate(yolo.session, monkeypatch)
    detector = BatchingDetector(yolo, max_batch=4, max_wait_ms=30_000)

    with ThreadPoolExecutor(2, thread_name_prefix="camera") as pool:
        futures = held_batch(detector, gate, pool, four_frames[0], four_frames[1:2])
        # Leader/follower: the wrapper runs inferences in its callers' threads and starts none of its own.
        assert {t.name.split("_")[0] for t in set(threading.enumerate()) - before} == {"camera"}
        detector.close()
        with pytest.raises(DetectorError, match="closed"):
            detector.detect(four_frames[2])
        gate.release()
        results = [f.result(WAIT_S) for f in futures]

    assert [[d.label for d in r] for r in results] == [["person"], ["car"]]
    assert gate.sizes == [1, 1]  # closing ended the second frame's 30 s wait for the batch to fill
    assert set(threading.enumerate()) == before


def test_with_batching_wraps_only_dynamic_batch_models_for_several_cameras(
    tmp_path: Path, yolo: YoloDetector, nanodet: NanoDetDetector, four_frames: list[np.ndarray]
) -> None:
    cfg = DetectorConfig(batch="auto")
    wrapped = with_batching(yolo, cfg, cameras=2)
    assert isinstance(wrapped, BatchingDetector)
    assert (wrapped.max_batch, wrapped.max_wait_s) == (4, 0.005)
    assert (wrapped.input_size, wrapped.class_names) == (yolo.input_size, yolo.class_names)
    assert summary(wrapped.detect(four_frames[0])) == summary(yolo.detect(four_frames[0]))

    assert with_batching(yolo, cfg, cameras=1) is yolo
    assert with_batching(yolo, DetectorConfig(batch="off"), cameras=4) is yolo
    assert with_batching(yolo, DetectorConfig(), cameras=4) is yolo  # off unless asked for
    fixed = load_yolo(tmp_path, 1)
    assert with_batching(fixed, cfg, cameras=4) is fixed
    assert with_batching(nanodet, cfg, cameras=4) is nanodet  # the default model has a fixed batch of 1
    with pytest.raises(DetectorError, match="fixed batch"):
        BatchingDetector(nanodet)


def test_batch_options_are_validated() -> None:
    assert DetectorConfig().model_dump(include={"batch", "max_batch", "max_batch_wait_ms"}) == {
        "batch": "off",
        "max_batch": 4,
        "max_batch_wait_ms": 5.0,
    }
    for bad in ({"batch": "on"}, {"max_batch": 1}, {"max_batch_wait_ms": -1}):
        with pytest.raises(ValidationError):
            DetectorConfig.model_validate(bad)


async def test_edge_app_shares_one_batching_detector_between_cameras(tmp_path: Path, vtest_path: Path) -> None:
    model = tmp_path / "mean-yolo.onnx"
    model.write_bytes(mean_driven_yolo_model("batch"))
    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            cameras=[{"id": cam, "name": cam, "source": str(vtest_path), "fps": 5} for cam in ("east", "west")],
            vision={
                "detector": {"model_path": str(model), "classes": ["person", "car"], "threads": 1, "batch": "auto"}
            },
        )
    )
    runner = EdgeRunner(config)
    await runner.start()
    try:
        pipelines = runner.app[keys.CAMERAS]
        east, west = pipelines["east"].detector, pipelines["west"].detector
        assert isinstance(east, BatchingDetector) and east is west
        await eventually(lambda: east.stats["frames"] >= 4, timeout_s=10)  # both cameras' frames went through it
    finally:
        await runner.stop()
