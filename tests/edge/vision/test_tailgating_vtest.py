"""Tailgating and entry without badge on real video: a virtual door line across the vtest.avi walkway, NanoDet and
the tracker count the crossings, badge grants are fed at chosen times, and the alarms the door watch raises
(real SQLite journal and alarm list) are checked against the crossings counted independently in this test from
the tracks' ground points, under the rule in docs/ACCESS.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge.access.alarms import AlarmBook
from edge.access.door_watch import EARLY_S, GRACE_S, DoorWatch
from edge.config import EdgeConfig
from edge.storage.database import Database
from edge.storage.journal import Journal
from edge.vision import CameraAnalyzer, CameraConfig, NanoDetDetector
from tests.edge.site import site_config_dict
from tests.polling import eventually

from .conftest import T0, read_frames, sampled

FPS = 5.0
WIDTH, HEIGHT = 768, 576
# The door line: a vertical segment across the walkway in the middle of the plaza; "in" is leftwards.
LINE_X, LINE_Y = 0.5, (0.2, 0.8)
CAMERA = {
    "id": "door-cam",
    "name": "Walkway",
    "source": "vtest.avi",
    "fps": FPS,
    "lines": [{"name": "door", "a": (LINE_X, LINE_Y[0]), "b": (LINE_X, LINE_Y[1]), "categories": ["person"]}],
}
UNLOCK_S = 3.0
GRANTS_S = [8.5, 15.0, 21.0, 22.0, 27.5]  # badge grants, seconds into the clip
FRAMES = 200  # 40 s at 5 fps


@dataclass(frozen=True)
class Walkway:
    crossings: list[tuple[datetime, str, int]]  # the camera's line_crossed events: time, direction, track
    independent_in: list[datetime]  # inward crossings counted by the test from the tracks' ground points


@pytest.fixture(scope="module")
def walkway(nanodet: NanoDetDetector, vtest_path: Path) -> Walkway:
    analyzer = CameraAnalyzer(CameraConfig.model_validate(CAMERA), nanodet)
    crossings: list[tuple[datetime, str, int]] = []
    sides: dict[int, int] = {}  # track -> last side clearly left (-1) or right (+1) of the line
    independent: list[datetime] = []
    for frame in sampled(read_frames(vtest_path, every=2, limit=FRAMES)):
        result = analyzer.process(frame)
        crossings += [
            (e.occurred_at, e.direction or "", e.track.id) for e in result.region_events if e.kind == "line_crossed"
        ]
        for track in result.tracks:
            if track.category != "person":
                continue
            x, y = (track.box[0] + track.box[2]) / 2, track.box[3]
            if not LINE_Y[0] * HEIGHT <= y <= LINE_Y[1] * HEIGHT or abs(x - LINE_X * WIDTH) < 8:
                continue
            side = -1 if x < LINE_X * WIDTH else 1
            if sides.get(track.id) == 1 and side == -1:
                independent.append(frame.captured_at)
            sides[track.id] = side
    return Walkway(crossings, independent)


def expected_alarms(crossings: list[datetime], grants: list[datetime], sensitivity: str) -> list[str]:
    """The reference rule: a grant opens (or extends) a window; more crossings than grants in it is tailgating."""
    windows: list[list[float]] = []  # [start, end, grants, crossings]
    for grant in grants:
        t = grant.timestamp()
        open_ = next((w for w in windows if w[0] - EARLY_S <= t <= w[1]), None)
        if open_ is not None:
            open_[1] = max(open_[1], t + UNLOCK_S + GRACE_S[sensitivity])
            open_[2] += 1
        else:
            windows.append([t, t + UNLOCK_S + GRACE_S[sensitivity], 1, 0])
    alarms: list[str] = []
    for crossing in crossings:
        t = crossing.timestamp()
        window = next((w for w in windows if w[0] - EARLY_S <= t <= w[1]), None)
        if window is None:
            alarms.append("entry_without_badge")
            continue
        for edge in (window[0] - EARLY_S, window[1]):
            assert abs(t - edge) >= 0.6, "a crossing this close to a window's edge makes the test depend on timing"
        window[3] += 1
        if window[3] > window[2]:
            alarms.append("tailgating")
    return alarms


def door_config(tmp_path: Path, sensitivity: str) -> EdgeConfig:
    data = site_config_dict(tmp_path, cameras=[CAMERA])
    data["doors"][0].update(
        camera="door-cam", camera_line="door", entry_direction="in", unlock_s=UNLOCK_S, tailgate_sensitivity=sensitivity
    )
    return EdgeConfig.model_validate(data)


def test_the_camera_counts_the_crossings_the_test_counts(walkway: Walkway) -> None:
    inward = [t for t, direction, _ in walkway.crossings if direction == "in"]
    assert len(inward) >= 6  # people do walk through the door line in these 40 s
    assert len(inward) == len(walkway.independent_in)
    for camera, ours in zip(inward, walkway.independent_in, strict=True):
        assert abs((camera - ours).total_seconds()) <= 0.6  # the same crossing, within a few frames


@pytest.mark.parametrize("sensitivity", ["normal", "high"])
async def test_alarms_match_the_crossings_and_grants(
    tmp_path: Path, db: Database, walkway: Walkway, sensitivity: str
) -> None:
    config = door_config(tmp_path, sensitivity)
    journal = Journal(db)
    alarms = AlarmBook(db, journal, config)
    watch = DoorWatch(journal, alarms, config.doors, settle_s=0)
    watch.start()
    grants = [T0 + timedelta(seconds=s) for s in GRANTS_S]
    records = [(t, "grant", "", 0) for t in grants] + [(t, "crossing", d, track) for t, d, track in walkway.crossings]
    try:
        for at, what, direction, track in sorted(records):
            if what == "grant":
                payload = {"type": "access_decision", "door_id": "front", "granted": True, "companion_id": None}
                await journal.record("audit", payload, occurred_at=at)
            else:
                payload = {
                    "kind": "line_crossed",
                    "camera_id": "door-cam",
                    "region": "door",
                    "direction": direction,
                    "track_id": track,
                }
                await journal.record("detection", payload, occurred_at=at)
        await eventually(lambda: watch.pending == 0)
    finally:
        await watch.stop()

    expected = expected_alarms(walkway.independent_in, grants, sensitivity)
    assert "tailgating" in expected and "entry_without_badge" in expected  # the chosen grants exercise both
    assert [alarm for _, alarm in watch.alarms_raised] == expected
    raised = [
        e.payload
        for e in reversed(await journal.recent(200, kind="event"))
        if e.payload.get("type") == "alarm" and e.payload.get("state") == "raised"
    ]
    assert [p["alarm"] for p in raised] == expected
    tailgate = next(p for p in raised if p["alarm"] == "tailgating")
    assert tailgate["crossings"] > tailgate["grants"] and tailgate["camera_id"] == "door-cam"
    listed = {(a.alarm, a.occurrences) for a in await alarms.open_alarms()}
    assert listed == {(name, expected.count(name)) for name in set(expected)}  # latched until acknowledged


def test_a_door_line_must_exist_on_its_camera(tmp_path: Path) -> None:
    data = site_config_dict(tmp_path, cameras=[CAMERA])
    data["doors"][0].update(camera="door-cam", camera_line="nowhere")
    with pytest.raises(ValueError, match="camera_line"):
        EdgeConfig.model_validate(data)
    data["doors"][0].update(camera=None, camera_line="door")
    with pytest.raises(ValueError, match="need a camera"):
        EdgeConfig.model_validate(data)
