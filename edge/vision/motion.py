"""Cheap motion detection on a small grayscale copy of each frame.

A ~160 px wide, blurred grayscale copy of each frame is compared with a running-average background
(cv2.accumulateWeighted) and with the previous sampled frame. A pixel moves when it differs from both by
more than a threshold (the previous-frame test is dilated first so a walker's whole body survives it):
the background test alone leaves "ghost" trails where people were while the average catches up, the
frame difference alone misses the inside of slow objects. The mask is cleaned with a morphological open
(drops single-pixel noise) and a dilation (joins a walker's limbs into one blob), and the bounding boxes
of the remaining blobs are scaled back to frame pixels. It costs about 0.5 ms per 768x576 frame.

Objects that stop moving fade into the background within a few seconds (`alpha`), which is what lets
the pipeline skip inference on a quiet scene; the tracker keeps them alive and the pipeline re-checks
them periodically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.config import MotionConfig
from edge.vision.geometry import Box

OPEN_KERNEL = np.ones((3, 3), np.uint8)
DILATE_KERNEL = np.ones((5, 5), np.uint8)
STEP_KERNEL = np.ones((7, 7), np.uint8)


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What moved in one frame, in frame pixels."""

    boxes: list[Box]  # one per moving blob
    fraction: float  # share of the (small) frame's pixels that changed
    reset: bool  # the background was (re)initialised on this frame: everything counts as changed
    mask: np.ndarray | None = None  # the small binary motion mask (uint8 0/1, before dilation), None on a reset
    scale: tuple[float, float] = (1.0, 1.0)  # frame pixels per mask pixel (x, y)
    min_pixels: float = 0.0  # smallest blob counted, in mask pixels

    @property
    def moving(self) -> bool:
        """Return whether anything moved (always true on a reset)."""
        return self.reset or bool(self.boxes)

    def pixels_outside(self, boxes: Sequence[Box]) -> int:
        """Return how many moving mask pixels lie outside all the given frame-pixel boxes.

        Slivers thinner than 3 mask pixels (a box edge cutting through a blob) are not counted.
        """
        if self.mask is None:
            return 0
        rest = self.mask.copy()
        sx, sy = self.scale
        for x1, y1, x2, y2 in boxes:
            top, bottom = max(0, int(y1 / sy)), max(0, int(np.ceil(y2 / sy)))
            left, right = max(0, int(x1 / sx)), max(0, int(np.ceil(x2 / sx)))
            rest[top:bottom, left:right] = 0
        return int(np.count_nonzero(cv2.morphologyEx(rest, cv2.MORPH_OPEN, OPEN_KERNEL)))


class MotionDetector:
    """Detect moving regions frame by frame; not thread-safe (one per camera)."""

    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self._background: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the background (e.g. after a reconnect); the next frame counts as all-changed."""
        self._background = None

    def update(self, frame_bgr: np.ndarray) -> MotionResult:
        """Compare a BGR frame with the background, then fold it into the background."""
        h, w = frame_bgr.shape[:2]
        small_w = min(self.cfg.width, w)
        small_h = max(1, round(h * small_w / w))
        source = frame_bgr
        if w > 2 * small_w:
            # Area-averaging the full frame costs ~1 ms; a bilinear pass to twice the size first is ~4x
            # cheaper and, with the area step and the blur after it, just as steady against noise.
            source = cv2.resize(frame_bgr, (2 * small_w, 2 * small_h), interpolation=cv2.INTER_LINEAR)
        small = cv2.resize(source, (small_w, small_h), interpolation=cv2.INTER_AREA)
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.float32)
        previous, self._previous = self._previous, gray
        if self._background is None or previous is None or self._shape != (h, w):
            self._background = gray.copy()
            self._shape = (h, w)
            return MotionResult(boxes=[(0.0, 0.0, float(w), float(h))], fraction=1.0, reset=True)
        changed = cv2.absdiff(gray, self._background) > self.cfg.threshold
        fraction = float(changed.mean())
        if fraction > self.cfg.reset_fraction:
            # A global change (lights, exposure, camera moved): adopt the new view at once instead of
            # reporting the whole frame as moving for the next several seconds.
            self._background = gray.copy()
            return MotionResult(boxes=[(0.0, 0.0, float(w), float(h))], fraction=fraction, reset=True)
        cv2.accumulateWeighted(gray, self._background, self.cfg.alpha)
        if fraction == 0.0:
            return MotionResult(boxes=[], fraction=0.0, reset=False)
        stepped = (cv2.absdiff(gray, previous) > self.cfg.threshold).astype(np.uint8)
        mask = cv2.bitwise_and(changed.astype(np.uint8), cv2.dilate(stepped, STEP_KERNEL))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, OPEN_KERNEL)
        count, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(mask, DILATE_KERNEL), connectivity=8)
        min_pixels = self.cfg.min_blob_fraction * small_w * small_h
        sx, sy = w / small_w, h / small_h
        boxes: list[Box] = [
            (float(x * sx), float(y * sy), float((x + bw) * sx), float((y + bh) * sy))
            for x, y, bw, bh, area in stats[1:count].tolist()
            if area >= min_pixels
        ]
        return MotionResult(
            boxes=boxes, fraction=fraction, reset=False, mask=mask, scale=(sx, sy), min_pixels=min_pixels
        )
