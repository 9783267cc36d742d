"""The tracker on synthetic boxes: lifecycle, association stages, misses, edges, categories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.vision import Detection, Tracker, TrackingConfig
from edge.vision.tracking import TrackUpdate

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FRAME = (640, 480)
DT = 0.2  # 5 fps


def person(x: float, y: float = 200.0, score: float = 0.8, w: float = 40.0, h: float = 100.0) -> Detection:
    return Detection("person", 0, score, x, y, x + w, y + h)


def vehicle(label: str, x: float, score: float = 0.7) -> Detection:
    return Detection(label, 7, score, x, 50.0, x + 120.0, 110.0)


class Clock:
    """Feed a tracker frame after frame at a fixed interval."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.now = 0.0

    def step(self, dets: list[Detection], observed: tuple[float, float, float, float] | None = None) -> TrackUpdate:
        update = self.tracker.update(dets, self.now, T0 + timedelta(seconds=self.now), FRAME, observed)
        self.now += DT
        return update


def test_one_walker_is_one_track_with_start_end_and_dwell() -> None:
    clock = Clock(Tracker(TrackingConfig(min_hits=3, max_misses=4)))
    started, ended = [], []
    for i in range(15):  # 3 s walking right at 50 px/s
        update = clock.step([person(100 + 10 * i)])
        started += update.started
        ended += update.ended
        if i < 2:
            assert update.started == []  # still tentative
    assert [t.id for t in started] == [1]
    assert clock.tracker.confirmed[0].hits == 15
    for _ in range(4):
        assert clock.step([]).ended == []  # missed but not yet gone
    ended = clock.step([]).ended
    assert [t.id for t in ended] == [1]
    track = ended[0]
    assert track.dwell_s == 14 * DT
    assert track.first_seen_at == T0 and track.last_seen_at == T0 + timedelta(seconds=14 * DT)
    assert track.velocity[0] > 40 and abs(track.velocity[1]) < 1
    assert clock.tracker.tracks == []


def test_two_walkers_crossing_keep_their_ids() -> None:
    clock = Clock(Tracker(TrackingConfig()))
    for i in range(25):  # they pass each other at i == 10
        clock.step([person(100 + 10 * i, score=0.8), person(300 - 10 * i, score=0.75)])
    tracks = sorted(clock.tracker.confirmed, key=lambda t: t.id)
    assert [t.id for t in tracks] == [1, 2]
    assert tracks[0].box[0] == 340 and tracks[0].velocity[0] > 0  # the one that started left went right
    assert tracks[1].box[0] == 60 and tracks[1].velocity[0] < 0


def test_low_score_detections_keep_a_track_but_never_start_one() -> None:
    clock = Clock(Tracker(TrackingConfig(high_score=0.5, max_misses=2)))
    for i in range(5):
        clock.step([person(100 + 5 * i, score=0.8)])
    for i in range(5, 20):  # partly occluded: weak detections only, plus a weak blob elsewhere
        update = clock.step([person(100 + 5 * i, score=0.4), person(500, y=50, score=0.45)])
        assert update.ended == [] and update.started == []
    assert [t.id for t in clock.tracker.tracks] == [1]


def test_misses_count_only_where_the_detector_looked() -> None:
    clock = Clock(Tracker(TrackingConfig(max_misses=3)))
    for _ in range(4):
        clock.step([person(100)])
    elsewhere = (400.0, 0.0, 640.0, 480.0)
    for _ in range(20):  # crops around motion on the other side: the parked track is not checked
        assert clock.step([], observed=elsewhere).ended == []
    assert len(clock.tracker.confirmed) == 1
    ended = [clock.step([]).ended for _ in range(4)]  # full frames: now it is missed
    assert [len(e) for e in ended] == [0, 0, 0, 1]


def test_a_track_leaving_at_the_edge_ends_at_once() -> None:
    clock = Clock(Tracker(TrackingConfig(max_misses=10)))
    for i in range(8):
        clock.step([person(500 + 12 * i)])  # 60 px/s towards the right edge (640)
    assert clock.tracker.confirmed[0].box[2] == 624
    ended = []
    for _ in range(6):
        ended += clock.step([]).ended
    assert [t.id for t in ended] == [1]  # gone within a few frames, long before 10 misses


def test_sparse_runs_survive_a_turn_around() -> None:
    clock = Clock(Tracker(TrackingConfig()))
    for i in range(6):
        clock.step([person(200 + 8 * i)])  # walking right, 40 px/s
    clock.now += 0.6  # the detector skipped three frames; meanwhile the walker turned round
    clock.step([person(225)])  # the prediction says ~270: no overlap, but near and the same size
    assert [t.id for t in clock.tracker.tracks] == [1]
    assert clock.tracker.confirmed[0].box[0] == 225


def test_vehicle_label_flips_keep_one_track_and_categories_stay_apart() -> None:
    clock = Clock(Tracker(TrackingConfig()))
    for i in range(6):
        label = "truck" if i % 3 else "car"
        clock.step([vehicle(label, 300), person(310, y=40, score=0.9, h=80)])
    tracks = {t.category: t for t in clock.tracker.confirmed}
    assert set(tracks) == {"person", "vehicle"}
    assert tracks["vehicle"].label == "truck"  # the label seen most
    assert tracks["vehicle"].hits == 6 and tracks["person"].hits == 6


def test_a_single_false_positive_never_starts_a_track() -> None:
    clock = Clock(Tracker(TrackingConfig(min_hits=3)))
    started = []
    for i in range(10):
        started += clock.step([person(100, score=0.9)] if i == 3 else []).started
    assert started == []
    assert clock.tracker.tracks == []


def test_weak_detections_continue_a_track_but_never_start_one() -> None:
    # Default config: what the detector keeps starts tracks; its weak detections (track floor up to the
    # threshold, flagged by the detector) only keep a confirmed track.
    clock = Clock(Tracker(TrackingConfig()))
    for i in range(3):
        clock.step([person(100 + 10 * i, score=0.55)])
    assert [t.id for t in clock.tracker.confirmed] == [1]
    weak = Detection("person", 0, 0.35, 130, 200, 170, 300, weak=True)
    for _ in range(8):
        assert clock.step([weak]).ended == []
    lonely = Detection("person", 0, 0.45, 500, 200, 540, 300, weak=True)
    for _ in range(5):
        assert clock.step([weak, lonely]).started == []
    assert [t.id for t in clock.tracker.tracks] == [1]


def test_a_drawn_track_is_predicted_to_the_frame_time() -> None:
    from edge.vision.pipeline import track_detection

    clock = Clock(Tracker(TrackingConfig()))
    for i in range(5):  # 50 px/s to the right
        clock.step([person(100 + 10 * i)])
    track = clock.tracker.confirmed[0]
    assert track_detection(track).x1 == 140  # the last box seen, at t = 0.8
    assert 148 <= track_detection(track, at=1.0).x1 <= 152  # 0.2 s later it is ~10 px further
