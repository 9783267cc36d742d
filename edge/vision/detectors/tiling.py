"""Tiled detection for small, far objects: the whole frame plus an overlapping grid of tiles, merged by NMS.

A 416-pixel detector sees a 1280x720 frame shrunk about three times, so a far pedestrian 40 pixels tall becomes
13 pixels, below what it can find. `TiledDetector` runs the wrapped detector on the full frame (large and near
objects) and on each tile of a `grid` x `grid` layout whose tiles overlap by `overlap` of their size (objects cut
by one tile's edge are whole in the next), maps tile boxes back to the frame and merges everything with
class-wise NMS. Cost: 1 + grid^2 inferences per frame; it is opt-in (`detector.tiling`), for far-field cameras.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from edge.vision.config import DetectorConfig
from edge.vision.detectors.base import Detection, Detector, nms_groups, nms_per_class, to_detections

DEFAULT_OVERLAP = 0.2


def tile_windows(width: int, height: int, grid: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Return (x1, y1, x2, y2) windows of a grid x grid layout, each overlapping its neighbours by `overlap`."""
    if grid < 1:
        raise ValueError("grid must be at least 1")
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be within [0, 1)")

    def spans(size: int) -> list[tuple[int, int]]:
        # n tiles of side t cover size with (n-1) overlaps of overlap*t: size = t * (n - (n-1)*overlap).
        tile = size / (grid - (grid - 1) * overlap)
        step = tile * (1.0 - overlap)
        return [(round(i * step), min(size, round(i * step + tile))) for i in range(grid)]

    return [(x1, y1, x2, y2) for y1, y2 in spans(height) for x1, x2 in spans(width)]


class TiledDetector(Detector):
    """Run a detector on the full frame and on overlapping tiles; merge with class-wise NMS.

    Thread-safe and blocking like the wrapped detector. `preprocess`/`postprocess` stay the wrapped
    detector's (one image), so batching code treats it like its inner detector; `detect` does the tiling.
    """

    type_key: ClassVar[str] = "tiled"

    def __init__(self, detector: Detector, grid: int = 2, overlap: float = DEFAULT_OVERLAP) -> None:
        if grid < 2:
            raise ValueError("a tiled detector needs a grid of at least 2x2")
        tile_windows(2, 2, grid, overlap)  # validates overlap
        super().__init__(detector.session, detector.cfg)
        self.detector = detector
        self.output_names = detector.output_names
        self.grid = grid
        self.overlap = overlap

    @property
    def input_size(self) -> int:
        """Return the wrapped detector's input size."""
        return self.detector.input_size

    @property
    def class_names(self) -> tuple[str, ...]:
        """Return the wrapped detector's class names."""
        return self.detector.class_names

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """Preprocess one image as the wrapped detector does."""
        return self.detector.preprocess(frame_bgr)

    def postprocess(self, outputs: Sequence[np.ndarray], frame_hw: tuple[int, int], geometry: Any) -> list[Detection]:
        """Postprocess one image as the wrapped detector does."""
        return self.detector.postprocess(outputs, frame_hw, geometry)

    def detect_all(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Detect on the full frame and every tile; return the merged detections (weak flagged), best first."""
        h, w = frame_bgr.shape[:2]
        found = list(self.detector.detect_all(frame_bgr))
        for x1, y1, x2, y2 in tile_windows(w, h, self.grid, self.overlap):
            tile = np.ascontiguousarray(frame_bgr[y1:y2, x1:x2])
            for d in self.detector.detect_all(tile):
                found.append(Detection(d.label, d.class_id, d.score, d.x1 + x1, d.y1 + y1, d.x2 + x1, d.y2 + y1))
        if not found:
            return []
        boxes = np.array([d.box for d in found], dtype=np.float64)
        scores = np.array([d.score for d in found], dtype=np.float64)
        class_ids = np.array([d.class_id for d in found], dtype=np.int64)
        groups = nms_groups(self.class_names)[class_ids]
        keep = nms_per_class(boxes, scores, groups, self.cfg.nms_iou)
        keep = keep[_not_contained(boxes[keep], groups[keep])]
        return self.flag_weak(to_detections(boxes[keep], scores[keep], class_ids[keep], self.class_names, (h, w)))


def with_tiling(detector: Detector, cfg: DetectorConfig) -> Detector:
    """Return the detector wrapped in a TiledDetector when `cfg.tiling` asks for tiles (wrap it last)."""
    return TiledDetector(detector, cfg.tiling) if cfg.tiling >= 2 else detector


def _not_contained(boxes: np.ndarray, groups: np.ndarray, share: float = 0.8) -> np.ndarray:
    """Return a mask dropping boxes mostly (>= share of their area) inside a better-scored box of the same group.

    A tile sees part of a large object (a torso, half a bus) and reports it as a whole one; NMS misses it
    because the part's IoU with the whole is small. Boxes come best first.
    """
    keep = np.ones(len(boxes), dtype=bool)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    for i in range(1, len(boxes)):
        better = np.flatnonzero(keep[:i] & (groups[:i] == groups[i]))
        if len(better) == 0 or areas[i] <= 0:
            continue
        ix1 = np.maximum(boxes[better, 0], boxes[i, 0])
        iy1 = np.maximum(boxes[better, 1], boxes[i, 1])
        ix2 = np.minimum(boxes[better, 2], boxes[i, 2])
        iy2 = np.minimum(boxes[better, 3], boxes[i, 3])
        inter = np.maximum(ix2 - ix1, 0) * np.maximum(iy2 - iy1, 0)
        if np.any(inter >= share * areas[i]):
            keep[i] = False
    return keep
