"""Gated detection, tracking, lines and zones over the whole real clip (vtest.avi at 5 fps).

The clip is analysed once per module (about 10 s of CPU) and each test checks one property of the record.
Reference boxes below were read off the clip: a walker in a red-and-blue jacket (with a companion in a
long black coat) walks from the road's middle to the building at the top right and back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.vision import CameraAnalyzer, CameraConfig, NanoDetDetector
from edge.vision.geometry import iou

from .conftest import read_frames, sampled

# Line "crossing": a vertical segment across the road in the middle of the plaza; "square": the road's middle.
CAMERA = {
    "id": "plaza",
    "name": "Plaza",
    "source": "vtest.avi",
    "fps": 5.0,
    "lines": [{"name": "crossing", "a": (0.5, 0.2), "b": (0.5, 0.8)}],
    "zones": [{"name": "square", "polygon": [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)], "loiter_s": 10.0}],
}
WALKER_AT = {24: (547, 226, 580, 318), 100: (674, 97, 699, 155), 170: (638, 210, 671, 301)}


@dataclass
class ClipRecord:
    """What the analyzer reported, frame by frame."""

    frames: int = 0
    detector_runs: int = 0
    person_detections: list[int] = field(default_factory=list)  # per frame; -1 when the detector was skipped
    tracks: list[dict[int, tuple[float, float, float, float]]] = field(default_factory=list)  # person tracks
    started: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    region_events: Counter[tuple[str, str, str | None]] = field(default_factory=Counter)
    occupancy: list[int] = field(default_factory=list)
    final: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def clip(nanodet: NanoDetDetector, vtest_path: Path) -> ClipRecord:
    analyzer = CameraAnalyzer(CameraConfig.model_validate(CAMERA), nanodet)
    record = ClipRecord()
    for frame in sampled(read_frames(vtest_path, every=2)):
        result = analyzer.process(frame)
        record.frames += 1
        record.detector_runs += result.plan is not None
        dets = result.detections
        record.person_detections.append(-1 if dets is None else sum(d.label == "person" for d in dets))
        record.tracks.append({t.id: t.box for t in result.tracks if t.category == "person"})
        record.started.update(t.category for t in result.started)
        record.ended.update(t.category for t in result.ended)
        record.region_events.update((e.kind, e.region, e.direction) for e in result.region_events)
        record.occupancy.append(analyzer.analytics()["zones"]["square"]["person"])
    record.final = analyzer.analytics()
    return record


def test_finds_the_people_and_skips_many_frames(clip: ClipRecord) -> None:
    assert clip.frames == 398
    runs = [n for n in clip.person_detections if n >= 0]
    assert len(runs) == clip.detector_runs
    assert sum(runs) / len(runs) >= 5  # the plaza has 5-10 people in view most of the time
    # Motion gating on a busy scene still skips a good share: all motion lies on known tracks.
    assert 0.3 * clip.frames <= clip.detector_runs <= 0.7 * clip.frames
    assert all(len(tracks) >= 2 for tracks in clip.tracks[10:])  # someone is always in view and tracked


def test_one_track_per_person_not_per_frame(clip: ClipRecord) -> None:
    window = clip.tracks[100:150]  # 10 s
    ids = {track_id for tracks in window for track_id in tracks}
    sightings = sum(len(tracks) for tracks in window)
    assert sightings >= 250
    assert len(ids) <= 14  # about 8 people in view, a few coming and going
    # The whole clip: about 20-25 people cross the plaza in 80 s; one event per frame would be thousands.
    assert 12 <= clip.started["person"] <= 40
    assert clip.started["vehicle"] == 2  # the parked van and car, each once


def test_a_walker_keeps_one_id_there_and_back(clip: ClipRecord) -> None:
    def track_on(frame: int) -> int:
        boxes = clip.tracks[frame]
        best = max(boxes, key=lambda tid: iou(boxes[tid], WALKER_AT[frame]))
        assert iou(boxes[best], WALKER_AT[frame]) >= 0.4, f"no track on the walker at frame {frame}"
        return best

    walker = track_on(24)
    assert track_on(100) == walker
    assert track_on(170) == walker
    assert all(walker in tracks for tracks in clip.tracks[24:171])  # 146 frames, 29 s, one id


def test_line_counts_are_plausible(clip: ClipRecord) -> None:
    counts = clip.final["lines"]["crossing"]
    ins, outs = counts["in"]["person"], counts["out"]["person"]
    # People walk both ways along the road, so the middle line is crossed often in both directions.
    assert 5 <= ins <= 30 and 5 <= outs <= 30
    assert clip.region_events[("line_crossed", "crossing", "in")] == ins
    assert clip.region_events[("line_crossed", "crossing", "out")] == outs
    assert counts["in"]["vehicle"] == counts["out"]["vehicle"] == 0  # the parked vehicles never cross


def test_zone_occupancy_is_plausible(clip: ClipRecord) -> None:
    assert max(clip.occupancy) <= 8
    assert sum(clip.occupancy) / len(clip.occupancy) >= 1.0  # the road's middle is rarely empty
    entered = clip.region_events[("zone_entered", "square", None)]
    left = clip.region_events[("zone_left", "square", None)]
    assert entered >= 10
    assert entered - left == clip.occupancy[-1] == clip.final["zones"]["square"]["person"]
