"""Detection beyond the test video: real labelled images (tests/fixtures/detector_eval, labels in the manifest).

The full evaluation (27 images, precision and recall per class) is `python -m bench.detector_quality`; these
tests pin the behaviours it measured on the committed subset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.detector_quality import score_image
from bench.eval_images import FIXTURES, MANIFEST, EvalImage, fetch, load_manifest
from edge.vision import CameraAnalyzer, CameraConfig, DetectorConfig, SampledFrame, load_detector
from edge.vision.detectors import TiledDetector
from edge.vision.detectors.tiling import tile_windows
from edge.vision.geometry import iou

LABELS = {img.name: img for img in load_manifest().images}
VAN = (487, 32, 547, 75)  # the parked van at the top of the campus frame: NanoDet scores it 0.46 (truck), 0.35 (bus)


def _image(name: str) -> tuple[EvalImage, np.ndarray]:
    frame = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
    assert frame is not None, f"{FIXTURES / name} is missing"
    return LABELS[name], frame


def test_committed_images_are_the_manifest_ones() -> None:
    import hashlib

    for path in FIXTURES.glob("*.*"):
        if path.suffix in (".jpg", ".png"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == LABELS[path.name].sha256


def test_manifest_records_provenance_and_sane_boxes() -> None:
    manifest = load_manifest(MANIFEST)
    assert len(manifest.images) >= 25
    for img in manifest.images:
        assert img.source.registry in ("debian", "pypi") and img.licence and len(img.sha256) == 64
        for obj in img.objects:
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 and 0 <= y1 < y2
    people = sum(o.category == "person" for img in manifest.images for o in img.objects)
    vehicles = sum(o.category == "vehicle" for img in manifest.images for o in img.objects)
    assert people >= 15 and vehicles >= 15


def test_a_van_seen_as_truck_and_bus_is_one_vehicle(nanodet_path: Path) -> None:
    _, frame = _image("background_subtraction_frame.jpg")
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    on_van = [d for d in detector.detect_all(frame) if iou(d.box, VAN) >= 0.5]
    assert [(d.label, round(d.score, 2)) for d in on_van] == [("truck", 0.46)]


def test_a_vehicle_the_detector_keeps_starts_a_track(nanodet_path: Path) -> None:
    # The van scores 0.46: kept by the detector (vehicles 0.35) and so able to start a track and an event.
    # Before, the detector kept it (0.35) but tracks needed 0.5: it never became an event.
    _, frame = _image("background_subtraction_frame.jpg")
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    camera = CameraConfig.model_validate(
        {"id": "campus", "name": "Campus", "source": "x.mp4", "motion": {"enabled": False}}
    )
    analyzer = CameraAnalyzer(camera, detector)
    at = datetime(2025, 6, 1, tzinfo=UTC)
    started = []
    for i in range(4):
        started += analyzer.process(SampledFrame(frame, i * 0.2, at, i)).started
    vans = [t for t in started if t.category == "vehicle" and iou(t.box, VAN) >= 0.5]
    assert len(vans) == 1
    people = [t for t in started if t.category == "person"]
    assert len(people) == 8  # the seven pedestrians, plus one box spanning the close pair at the top


def test_default_detector_on_the_campus_frame(nanodet_path: Path) -> None:
    image, frame = _image("background_subtraction_frame.jpg")
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    counts = score_image(image, detector.detect(frame))
    # Every pedestrian; the one false alarm is a box spanning the close pair at the top right.
    assert (counts["person"].tp, counts["person"].fp, counts["person"].fn) == (7, 1, 0)
    assert (counts["vehicle"].tp, counts["vehicle"].fp, counts["vehicle"].fn) == (2, 0, 0)


@pytest.mark.parametrize("option", [{"resize": "letterbox"}, {"tiling": 2}])
def test_both_people_indoors_with_the_stronger_options(nanodet_path: Path, option: dict[str, object]) -> None:
    # Stretched to a square, the man holding the ball scores 0.17: the default misses him (the issue's
    # "one of two people"); letterboxing (0.79) or tiling (a tile shows him whole) finds both.
    image, frame = _image("basketball1.png")
    cfg = DetectorConfig(model_path=nanodet_path, **option)  # type: ignore[arg-type]
    detector = load_detector(cfg)
    if cfg.tiling > 1:
        detector = TiledDetector(detector, cfg.tiling)
    counts = score_image(image, detector.detect(frame))
    assert counts["person"].tp == 2 and counts["person"].fn == 0


def test_tile_windows_cover_the_frame_with_overlap() -> None:
    windows = tile_windows(1280, 720, 2, 0.2)
    assert len(windows) == 4
    assert min(w[0] for w in windows) == 0 and max(w[2] for w in windows) == 1280
    assert min(w[1] for w in windows) == 0 and max(w[3] for w in windows) == 720
    left, right = windows[0], windows[1]
    assert left[2] - right[0] == pytest.approx(0.2 * (left[2] - left[0]), abs=1)


@pytest.mark.network
def test_fetch_is_rerunnable(tmp_path: Path) -> None:
    folder = fetch(tmp_path)
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert names == sorted(LABELS)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert fetch(tmp_path) == folder  # everything cached and verified: nothing downloaded or rewritten
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
