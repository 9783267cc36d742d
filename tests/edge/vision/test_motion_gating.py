"""Motion detection and inference gating on real frames: the empty plaza, people entering, people standing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.vision import CameraAnalyzer, CameraConfig, MotionConfig, MotionDetector, NanoDetDetector
from edge.vision.geometry import Box, box_area, iou

from .conftest import read_frames, sampled

CAMERA = {"id": "yard", "name": "Yard", "source": "clip", "fps": 5.0}
# A walker in frame 100 of vtest.avi (sampled frame 50 at 5 fps; NanoDet: 588,157,620,235 at 0.77), cut out
# with some ground around him.
WALKER_PATCH = (575, 145, 635, 250)
WALKER_BOX_IN_PATCH = (13, 12, 45, 90)  # the person inside the patch


def intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def noisy(background: np.ndarray, count: int, seed: int = 7) -> list[np.ndarray]:
    """Return `count` copies of the background with mild sensor noise (seeded)."""
    rng = np.random.default_rng(seed)
    return [np.clip(background + rng.normal(0, 2.0, background.shape), 0, 255).astype(np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def plaza_frames(vtest_path: Path) -> list[np.ndarray]:
    """Return sampled frames 40..79 of vtest.avi at 5 fps (people walking)."""
    return list(read_frames(vtest_path, every=2, limit=80))[40:]


def test_motion_detector_finds_a_moving_patch_and_ignores_noise(
    plaza_background: np.ndarray, plaza_frames: list[np.ndarray]
) -> None:
    detector = MotionDetector(MotionConfig())
    first = detector.update(plaza_background)
    assert first.reset and first.moving  # no background yet: everything counts
    for frame in noisy(plaza_background, 10):
        result = detector.update(frame)
        assert result.boxes == [] and not result.moving

    x1, y1, x2, y2 = WALKER_PATCH
    patch = plaza_frames[10][y1:y2, x1:x2]
    for step in range(3):
        frame = plaza_background.copy()
        left = 100 + 40 * step
        frame[300 : 300 + patch.shape[0], left : left + patch.shape[1]] = patch
        result = detector.update(frame)
    (box,) = result.boxes
    walker = (left + WALKER_BOX_IN_PATCH[0], 300 + WALKER_BOX_IN_PATCH[1]) + (
        left + WALKER_BOX_IN_PATCH[2],
        300 + WALKER_BOX_IN_PATCH[3],
    )
    # The blob covers the walker, plus where he was a frame ago and a little ground, not much more.
    assert box_area(intersection(box, walker)) >= 0.8 * box_area(walker), (box, walker)
    assert box_area(box) <= 6 * box_area(walker)
    assert result.fraction < 0.05


def test_quiet_scene_skips_inference_and_people_entering_are_detected(
    nanodet: NanoDetDetector, plaza_background: np.ndarray, plaza_frames: list[np.ndarray]
) -> None:
    analyzer = CameraAnalyzer(CameraConfig.model_validate(CAMERA), nanodet)
    quiet = noisy(plaza_background, 60)  # 12 s of an empty plaza
    results = [analyzer.process(f) for f in sampled(iter(quiet))]
    ran = [r.frame.index for r in results if r.plan is not None]
    assert ran == [0, 25, 50]  # the first frame, then a full-frame re-check every 5 s
    assert [r.plan.reason for r in results if r.plan is not None] == ["reset", "recheck", "recheck"]
    assert {t.category for t in analyzer.tracker.tracks} == {"vehicle"}  # only the parked van (and car)

    busy = [analyzer.process(f) for f in sampled(iter(plaza_frames[:20]), start=60)]
    assert busy[0].plan is not None  # people walked in: the detector runs at once
    assert sum(r.plan is not None for r in busy) >= 7
    people = [t for t in analyzer.tracker.confirmed if t.category == "person"]
    assert len(people) >= 4
    assert sum(r.started != [] for r in busy) >= 1


def test_people_standing_still_are_kept_and_rechecked(nanodet: NanoDetDetector, plaza_frames: list[np.ndarray]) -> None:
    analyzer = CameraAnalyzer(CameraConfig.model_validate(CAMERA), nanodet)
    for frame in sampled(iter(plaza_frames[:10])):
        analyzer.process(frame)
    before = {t.id for t in analyzer.tracker.confirmed if t.category == "person"}
    assert len(before) >= 4

    frozen = noisy(plaza_frames[9], 60, seed=3)  # everyone freezes for 12 s
    results = [analyzer.process(f) for f in sampled(iter(frozen), start=10)]
    runs = [r for r in results if r.plan is not None]
    # The still people fade into the background within a second or two; then only the re-checks run.
    assert [r.plan.reason for r in runs[-2:]] == ["recheck", "recheck"]
    assert sum(r.plan is not None for r in results[20:]) <= 3
    assert all(r.ended == [] for r in results)
    after = {t.id for t in analyzer.tracker.confirmed if t.category == "person"}
    assert after == before  # not forgotten, not re-created


def test_a_lone_walker_is_detected_on_a_crop(
    nanodet: NanoDetDetector, plaza_background: np.ndarray, plaza_frames: list[np.ndarray]
) -> None:
    analyzer = CameraAnalyzer(CameraConfig.model_validate(CAMERA), nanodet)
    x1, y1, x2, y2 = WALKER_PATCH
    patch = plaza_frames[10][y1:y2, x1:x2]
    frames = noisy(plaza_background, 5)
    for step in range(10):
        frame = noisy(plaza_background, 1, seed=step)[0]
        left = 150 + 12 * step
        frame[320 : 320 + patch.shape[0], left : left + patch.shape[1]] = patch
        frames.append(frame)
    results = [analyzer.process(f) for f in sampled(iter(frames))]

    crops = [r for r in results[5:] if r.plan is not None and r.plan.region is not None]
    assert len(crops) >= 3
    for r in crops:
        rx1, ry1, rx2, ry2 = r.plan.region
        assert (rx2 - rx1) * (ry2 - ry1) <= 0.45 * 768 * 576
    walker = [t for t in analyzer.tracker.confirmed if t.category == "person"]
    assert len(walker) == 1
    left = 150 + 12 * 9
    expected = (left + WALKER_BOX_IN_PATCH[0], 320 + WALKER_BOX_IN_PATCH[1]) + (
        left + WALKER_BOX_IN_PATCH[2],
        320 + WALKER_BOX_IN_PATCH[3],
    )
    assert iou(walker[0].box, expected) > 0.5, walker[0].box  # crop boxes map back to frame pixels


def test_motion_on_a_tentative_track_waits_tentative_refresh_s() -> None:
    from edge.vision import MotionConfig, MotionResult
    from edge.vision.gating import InferencePlanner

    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:40] = 1  # one moving blob, on the newcomer's box
    motion = MotionResult([(300.0, 200.0, 400.0, 400.0)], 0.04, False, mask, (10.0, 10.0), 4.0)
    newcomer = [(290.0, 190.0, 410.0, 410.0)]

    def second_run(cfg: MotionConfig) -> bool:
        planner = InferencePlanner(cfg)
        assert planner.plan(motion, (800, 600), 0.0, [], newcomer) is not None  # the first frame: full frame
        return planner.plan(motion, (800, 600), 0.2, [], newcomer) is not None

    assert not second_run(MotionConfig())  # default: as a confirmed track, at most every 0.5 s
    assert second_run(MotionConfig(tentative_refresh_s=0.0))  # every frame until it is confirmed
    # Motion on no track at all always runs at once.
    planner = InferencePlanner(MotionConfig())
    planner.plan(motion, (800, 600), 0.0, [], [])
    assert planner.plan(motion, (800, 600), 0.2, [], []) is not None
