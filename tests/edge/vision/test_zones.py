"""Zone and line analytics on synthetic tracks, and their configuration rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from edge.vision import CameraConfig, LineConfig, SceneAnalytics, Track, ZoneRegionConfig
from edge.vision.events import Category

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
W, H = 1000, 500
# Zone "door": the middle of the frame, x 400..600, y 200..400 (normalised). Line "gate": vertical at x = 0.5.
DOOR = ZoneRegionConfig(name="door", polygon=[(0.4, 0.4), (0.6, 0.4), (0.6, 0.8), (0.4, 0.8)], loiter_s=10.0)
GATE = LineConfig(name="gate", a=(0.5, 0.0), b=(0.5, 1.0))  # facing down the image, "in" is to the left


def make_track(track_id: int = 1, category: Category = "person") -> Track:
    return Track(
        id=track_id,
        category=category,
        box=(0.0, 0.0, 40.0, 100.0),
        score=0.9,
        first_seen=0.0,
        last_seen=0.0,
        first_seen_at=T0,
        last_seen_at=T0,
        confirmed=True,
    )


def at(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


def walk(scene: SceneAnalytics, track: Track, points: list[tuple[float, float]], start: float = 0.0) -> list:
    """Observe a track at successive ground points one second apart; return all events."""
    events = []
    for i, point in enumerate(points):
        now = start + i
        track.last_seen = now
        events += scene.observe(track, now, point, at(now))
    return events


@pytest.fixture
def scene() -> SceneAnalytics:
    analytics = SceneAnalytics([DOOR], [GATE])
    analytics.set_frame_size(W, H)
    return analytics


def test_enter_leave_and_occupancy(scene: SceneAnalytics) -> None:
    track = make_track()
    events = walk(scene, track, [(100, 300), (450, 300)])
    assert [(e.kind, e.region) for e in events] == [("zone_entered", "door")]
    assert scene.snapshot()["zones"] == {"door": {"person": 1, "vehicle": 0}}
    assert scene.visited(1) == ["door"]

    events = walk(scene, track, [(550, 300), (900, 300)], start=2)
    kinds = [(e.kind, e.region, e.direction) for e in events]
    assert ("zone_left", "door", None) in kinds
    assert [e.region_dwell_s for e in events if e.kind == "zone_left"] == [2.0]  # entered at 1 s, left at 3 s
    assert scene.snapshot()["zones"] == {"door": {"person": 0, "vehicle": 0}}


def test_loitering_is_reported_once_even_when_standing_still(scene: SceneAnalytics) -> None:
    track = make_track()
    walk(scene, track, [(500, 300)])  # entered at 0 s, then never moves (no more sightings)
    assert scene.tick(9.0, at(9.0)) == []
    events = scene.tick(10.5, at(10.5))
    assert [(e.kind, e.region, e.region_dwell_s) for e in events] == [("loitering", "door", 10.5)]
    assert scene.tick(30.0, at(30.0)) == []


def test_line_crossings_count_by_direction(scene: SceneAnalytics) -> None:
    left_to_right = make_track(1)
    right_to_left = make_track(2)
    events = walk(scene, left_to_right, [(300, 100), (450, 120), (700, 130)])
    events += walk(scene, right_to_left, [(800, 450), (200, 460)])
    crossings = [(e.track.id, e.direction) for e in events if e.kind == "line_crossed"]
    # Line a=(500,0) -> b=(500,500) points down; its right-hand side facing down is the image's left.
    assert crossings == [(1, "out"), (2, "in")]
    assert scene.snapshot()["lines"] == {
        "gate": {"in": {"person": 1, "vehicle": 0}, "out": {"person": 1, "vehicle": 0}}
    }


def test_standing_on_the_line_is_not_counted_back_and_forth(scene: SceneAnalytics) -> None:
    track = make_track()  # box height 100: points within 10 px of the line count as on it
    events = walk(scene, track, [(450, 100), (497, 100), (503, 100), (496, 100), (504, 100), (560, 100)])
    assert [(e.kind, e.direction) for e in events] == [("line_crossed", "out")]


def test_going_round_the_end_of_a_segment_is_not_a_crossing() -> None:
    short = LineConfig(name="short", a=(0.5, 0.0), b=(0.5, 0.4))  # ends at y = 200
    scene = SceneAnalytics([], [short])
    scene.set_frame_size(W, H)
    events = walk(scene, make_track(), [(300, 400), (700, 400), (700, 100)])
    assert events == []


def test_categories_filter_and_end_leaves_zones() -> None:
    people_only = ZoneRegionConfig(name="lobby", polygon=[(0, 0), (1, 0), (1, 1)], categories=["person"])
    scene = SceneAnalytics([people_only], [])
    scene.set_frame_size(W, H)
    van = make_track(1, "vehicle")
    walker = make_track(2)
    assert walk(scene, van, [(900, 100)]) == []
    assert [e.kind for e in walk(scene, walker, [(900, 100)])] == ["zone_entered"]
    walker.last_seen = 7.0
    left = scene.end(walker, at(7.0))
    assert [(e.kind, e.region, e.region_dwell_s) for e in left] == [("zone_left", "lobby", 7.0)]
    assert scene.snapshot()["zones"] == {"lobby": {"person": 0, "vehicle": 0}}


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ({"name": "a", "polygon": [(0, 0), (1, 0)]}, "at least 3"),
        ({"name": "a", "polygon": [(0, 0), (1.2, 0), (1, 1)]}, "within 0..1"),
        ({"name": "a", "polygon": [(0, 0), (0.5, 0.5), (1, 1)]}, "no area"),
        ({"name": "a", "polygon": [(0, 0), (1, 0), (1, 1)], "loiter_s": 0}, "greater than 0"),
        ({"name": "a", "polygon": [(0, 0), (1, 0), (1, 1)], "colour": "red"}, "Extra inputs"),
    ],
)
def test_zone_config_rejects_bad_polygons(zone: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ZoneRegionConfig.model_validate(zone)


def test_camera_config_rejects_bad_lines_and_duplicate_names() -> None:
    base = {"id": "plaza", "name": "Plaza", "source": "a.mp4"}
    tri = [(0, 0), (1, 0), (1, 1)]
    with pytest.raises(ValidationError, match="must differ"):
        CameraConfig.model_validate({**base, "lines": [{"name": "l", "a": (0.5, 0.5), "b": (0.5, 0.5)}]})
    with pytest.raises(ValidationError, match="within 0..1"):
        CameraConfig.model_validate({**base, "lines": [{"name": "l", "a": (0, 0), "b": (2, 0)}]})
    with pytest.raises(ValidationError, match="unique"):
        CameraConfig.model_validate({**base, "zones": [{"name": "z", "polygon": tri}, {"name": "z", "polygon": tri}]})
    cam = CameraConfig.model_validate({**base, "zones": [{"name": "z", "polygon": tri}]})
    assert cam.zones[0].categories == ["person", "vehicle"] and cam.motion.enabled


def test_new_regions_keep_the_counts_of_lines_kept_by_name(scene: SceneAnalytics) -> None:
    track = make_track()
    walk(scene, track, [(400, 300), (600, 300)])  # crosses the gate once
    counted = scene.snapshot()["lines"]["gate"]
    assert sum(counted["in"].values()) + sum(counted["out"].values()) == 1
    moved = LineConfig(name="gate", a=(0.7, 0.0), b=(0.7, 1.0))  # redrawn elsewhere, same name
    redrawn = SceneAnalytics([], [moved, LineConfig(name="new", a=(0.0, 0.5), b=(1.0, 0.5))])
    redrawn.keep_counts(scene)
    redrawn.set_frame_size(W, H)
    snapshot = redrawn.snapshot()
    assert snapshot["lines"]["gate"] == counted
    assert sum(snapshot["lines"]["new"]["in"].values()) == 0
    assert snapshot["zones"] == {}
    events = walk(redrawn, track, [(650, 300), (750, 300)], start=10)  # now it crosses the redrawn gate
    assert [(e.kind, e.region) for e in events] == [("line_crossed", "gate")]
