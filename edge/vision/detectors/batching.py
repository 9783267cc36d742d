"""Batch frames from several cameras into one inference: a thread-safe Detector wrapper.

Every camera's analyzer calls `detect(frame)` from the shared vision executor. `BatchingDetector`
preprocesses the frame in the calling thread, queues its tensor, and runs queued tensors together
(leader/follower; it owns no thread):

- a caller that finds no inference running runs its frame at once, alone: a single active camera
  never waits for company;
- callers arriving while an inference runs queue up; when it ends, the oldest queued caller becomes
  the leader and runs everything queued (up to `max_batch`) as the next batch, after waiting for the
  batch to fill at most `max_wait_ms` counted from the oldest queued arrival (under load that has
  usually passed already, so the wait rarely adds latency);
- each caller receives its own image's outputs through a `Future` and postprocesses them in its own
  thread; an exception from the session is set on every Future of that batch.

So one inference is in flight at a time: give the detector `threads` = the cores it may use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edge.vision.config import DetectorConfig
from edge.vision.detectors.base import Detection, Detector, DetectorError
from edge.vision.detectors.batch import run_stacked, supports_batching

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Request:
    """One caller's preprocessed frame waiting for an inference."""

    tensor: np.ndarray
    arrived: float  # time.monotonic()
    outputs: Future[list[np.ndarray]] = field(default_factory=Future)


class BatchingDetector(Detector):
    """Wrap a dynamic-batch detector so concurrent `detect` calls share `session.run` calls.

    Results equal the wrapped detector's `detect`; see the module docstring for how batches form.
    """

    type_key: ClassVar[str] = "batching"

    def __init__(self, detector: Detector, max_batch: int = 4, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        if not supports_batching(detector):
            shape = detector.session.get_inputs()[0].shape
            raise DetectorError(f"the model's input {shape} has a fixed batch size: it cannot batch frames")
        super().__init__(detector.session, detector.cfg)
        self.detector = detector
        self.output_names = detector.output_names
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._running = False  # an inference is in flight (or a promoted leader is about to start one)
        self._leader: _Request | None = None  # queued request whose thread must run the next batch
        self._closed = False
        self._runs = 0
        self._frames = 0

    @property
    def input_size(self) -> int:
        """Return the wrapped detector's input size."""
        return self.detector.input_size

    @property
    def class_names(self) -> tuple[str, ...]:
        """Return the wrapped detector's class names."""
        return self.detector.class_names

    @property
    def pending(self) -> int:
        """Return how many frames are queued for the next inference."""
        with self._cond:
            return len(self._queue)

    @property
    def stats(self) -> dict[str, int]:
        """Return {runs, frames}: inferences run and frames they carried (frames / runs = mean batch)."""
        with self._cond:
            return {"runs": self._runs, "frames": self._frames}

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """Preprocess as the wrapped detector does."""
        return self.detector.preprocess(frame_bgr)

    def postprocess(self, outputs: Sequence[np.ndarray], frame_hw: tuple[int, int], geometry: Any) -> list[Detection]:
        """Postprocess as the wrapped detector does."""
        return self.detector.postprocess(outputs, frame_hw, geometry)

    def detect_all(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detect objects (weak ones flagged), sharing the inference with concurrent callers (blocking)."""
        tensor, geometry = self.detector.preprocess(frame_bgr)
        outputs = self._infer(tensor)
        return self.flag_weak(self.detector.postprocess(outputs, frame_bgr.shape[:2], geometry))

    def close(self) -> None:
        """Refuse new frames; frames already queued are still run and answered."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Queue one tensor, lead or follow, and return its image's outputs."""
        request = _Request(tensor, time.monotonic())
        with self._cond:
            if self._closed:
                raise DetectorError("the detector is closed")
            self._queue.append(request)
            if not self._running:
                # Idle: nothing can be queued (a finishing batch hands over to the oldest queued request).
                self._running = True
                batch = [self._queue.popleft()]
            else:
                if len(self._queue) >= self.max_batch:
                    self._cond.notify_all()  # a leader waiting for the batch to fill can start
                while self._leader is not request and not request.outputs.done():
                    self._cond.wait()
                if self._leader is not request:
                    return request.outputs.result()
                self._leader = None
                batch = self._fill_batch()
        self._run(batch)
        return request.outputs.result()

    def _fill_batch(self) -> list[_Request]:
        """Wait (lock held) until max_batch requests are queued or max_wait passed since the oldest; take them."""
        deadline = self._queue[0].arrived + self.max_wait_s
        while len(self._queue) < self.max_batch and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]

    def _run(self, batch: list[_Request]) -> None:
        """Run one inference for the batch, answer every request, then hand over to the next leader."""
        try:
            per_image = run_stacked(self.detector, [r.tensor for r in batch])
        except BaseException as err:
            # Hand-off point, not a swallow: every caller of this batch re-raises the error from its Future,
            # and the finally below still hands over, so no follower waits forever.
            for r in batch:
                r.outputs.set_exception(err)
        else:
            for r, outputs in zip(batch, per_image, strict=True):
                r.outputs.set_result(outputs)
        finally:
            with self._cond:
                self._runs += 1
                self._frames += len(batch)
                if self._queue:
                    self._leader = self._queue[0]
                else:
                    self._running = False
                self._cond.notify_all()


def with_batching(detector: Detector, cfg: DetectorConfig, cameras: int) -> Detector:
    """Return the detector wrapped in a BatchingDetector when the config, the model and the camera count allow."""
    if cfg.batch == "off" or cameras < 2:
        return detector
    if not supports_batching(detector):
        log.info("frame batching unavailable: the model's input has a fixed batch size of 1")
        return detector
    log.info("batching up to %d frames of %d cameras per inference", min(cfg.max_batch, cameras), cameras)
    return BatchingDetector(detector, cfg.max_batch, cfg.max_batch_wait_ms)
