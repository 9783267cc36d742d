"""Multi-object tracking by box overlap, ByteTrack-style, without a Kalman filter.

Each detector run is associated with the live tracks in three greedy IoU stages (after ByteTrack):
1. confirmed tracks with high-score detections (reaching the detector's threshold for their label, and
   `high_score` when set; weak ones, from the detector's track floor up to its threshold, are low); then, for
   the ones still unmatched,
   by centre distance relative to the box height, within a gate that widens with the time since the
   track was last seen (someone who turned round between two sparse runs no longer overlaps the
   prediction, but is still near it and about the same size),
2. confirmed tracks still unmatched with the remaining low-score detections (a stricter IoU), which keeps
   a partly occluded person on their track without letting weak detections start new ones,
3. tentative tracks with the high-score detections left (IoU, then distance).
Tracks are compared by their box predicted to the detection time at constant velocity (smoothed centre
velocity, capped extrapolation), and only within one category (person or vehicle: a van that flips
between 'truck' and 'car' keeps its track).

A track is confirmed (started) after `min_hits` detections. A tentative track dies at its second miss. A
confirmed one ends after `max_misses` detector runs in a row that looked at where it should be and did
not find it, or when such misses have lasted `max_coast_s`, or at once when its predicted centre leaves the
frame. Runs that looked elsewhere (a crop around motion elsewhere) or frames without a run (no motion)
do not count as misses: a parked car is not forgotten because nothing moved.

Times are media seconds (the frame's position in the video or stream), so velocities and dwell times
are right whether frames are processed in real time or faster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from edge.vision.config import TrackingConfig
from edge.vision.detectors.base import Detection
from edge.vision.events import CATEGORY_BY_LABEL, Category, detections_by_category
from edge.vision.geometry import Box, Point, anchor_point, box_area, center, contains, iou_matrix, union_box

VELOCITY_SMOOTHING = 0.5  # weight of the newest displacement in the velocity estimate
MAX_EXTRAPOLATION_S = 1.0  # never predict further ahead than this from the last sighting
MAX_SPEED_SIZES = 2.0  # speed limit, in box sizes (the larger side) per second
NEAR_GATE_BASE = 0.3  # distance gate for the second part of stage 1, in box heights ...
NEAR_GATE_PER_S = 1.0  # ... plus this many box heights per second since the last sighting ...
NEAR_GATE_MAX = 1.5  # ... up to this many
NEAR_SIZE_RATIO = 1.6  # and the heights may differ by at most this factor
TENTATIVE_MAX_MISSES = 1
PATH_LIMIT = 200  # anchor points kept per track (for analytics replay and the console)


@dataclass(slots=True)
class Track:
    """One tracked object. Times are media seconds; `*_at` fields are wall-clock datetimes."""

    id: int
    category: Category
    box: Box
    score: float
    first_seen: float
    last_seen: float
    first_seen_at: datetime
    last_seen_at: datetime
    hits: int = 1
    misses: int = 0  # detector runs in a row that looked where it should be and did not find it
    lost_since: float = 0.0  # media time of the first of those misses
    confirmed: bool = False
    velocity: Point = (0.0, 0.0)  # centre velocity, pixels per second
    labels: Counter[str] = field(default_factory=Counter)
    best_score: float = 0.0
    best_quality: float = 0.0
    best_box: Box = (0.0, 0.0, 0.0, 0.0)
    best_at: datetime | None = None
    # The frame of the best sighting: by reference (frames are never mutated), then as JPEG bytes once the
    # pipeline has encoded it (CameraPipeline._hold_best_frames_as_jpeg).
    best_image: Any = None
    path: list[tuple[float, Point]] = field(default_factory=list)  # (media time, anchor point) per hit

    @property
    def label(self) -> str:
        """Return the label seen most often (e.g. 'truck' for a van sometimes seen as 'car')."""
        return self.labels.most_common(1)[0][0] if self.labels else self.category

    @property
    def dwell_s(self) -> float:
        """Return the time from first to last sighting."""
        return self.last_seen - self.first_seen

    def predict(self, now: float) -> Box:
        """Return the box extrapolated at constant velocity to media time `now`."""
        dt = min(max(0.0, now - self.last_seen), MAX_EXTRAPOLATION_S)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


def sighting_quality(det: Detection) -> float:
    """Return how good a sighting is for a snapshot: confident and large (score x sqrt(area))."""
    return float(det.score * box_area(det.box) ** 0.5)


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """What one detector run changed."""

    started: list[Track]  # confirmed on this run
    ended: list[Track]  # confirmed tracks that ended on this run
    matched: list[Track]  # tracks (confirmed or not) that got a detection on this run
    improved: list[Track]  # tracks whose best sighting is from this run


class Tracker:
    """Associate detections over time into tracks; not thread-safe."""

    def __init__(self, cfg: TrackingConfig) -> None:
        self.cfg = cfg
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        """Return the live tracks, confirmed and tentative."""
        return list(self._tracks)

    @property
    def confirmed(self) -> list[Track]:
        """Return the live confirmed tracks."""
        return [t for t in self._tracks if t.confirmed]

    def update(
        self,
        detections: Sequence[Detection],
        now: float,
        at: datetime,
        frame_size: tuple[int, int],
        observed: Box | None = None,
    ) -> TrackUpdate:
        """Fold one detector run into the tracks.

        `now` is the frame's media time and `at` its wall-clock time; `frame_size` is (width, height);
        `observed` is the region the detector looked at (None: the whole frame).
        """
        width, height = frame_size
        frame_box: Box = (0.0, 0.0, float(width), float(height))
        region = observed or frame_box
        grouped = detections_by_category(detections)
        dets = [d for dets in grouped.values() for d in dets]
        start = self.cfg.high_score
        high = [d for d in dets if not d.weak and (start is None or d.score >= start)]
        low = [d for d in dets if d.weak or (start is not None and d.score < start)]
        confirmed = [t for t in self._tracks if t.confirmed]
        tentative = [t for t in self._tracks if not t.confirmed]
        predicted = {t.id: t.predict(now) for t in self._tracks}

        pairs: list[tuple[Track, Detection]] = []
        left_tracks, left_high = _associate(confirmed, high, predicted, self.cfg.match_iou, pairs)
        left_tracks, left_high = _associate_near(left_tracks, left_high, predicted, now, pairs)
        left_tracks, _ = _associate(left_tracks, low, predicted, self.cfg.low_match_iou, pairs)
        left_tentative, left_high = _associate(tentative, left_high, predicted, self.cfg.match_iou, pairs)
        left_tentative, left_high = _associate_near(left_tentative, left_high, predicted, now, pairs)

        started: list[Track] = []
        improved: list[Track] = []
        for track, det in pairs:
            if self._hit(track, det, now, at):
                improved.append(track)
            if not track.confirmed and track.hits >= self.cfg.min_hits:
                track.confirmed = True
                started.append(track)

        ended: list[Track] = []
        gone: set[int] = set()
        for track in [*left_tracks, *left_tentative]:
            box = predicted[track.id]
            if not contains(frame_box, center(box)) and _near_edge(track.box, width, height):
                gone.add(track.id)  # it was at the edge and should be past it now: it left
            elif contains(region, center(box)):
                if track.misses == 0:
                    track.lost_since = now
                track.misses += 1
                limit = self.cfg.max_misses if track.confirmed else TENTATIVE_MAX_MISSES
                if track.misses > limit or now - track.lost_since > self.cfg.max_coast_s:
                    gone.add(track.id)
            if track.id in gone and track.confirmed:
                ended.append(track)
        self._tracks = [t for t in self._tracks if t.id not in gone]

        for det in left_high:
            track = self._new_track(det, now, at)
            improved.append(track)
            if self.cfg.min_hits <= 1:
                track.confirmed = True
                started.append(track)
        return TrackUpdate(started=started, ended=ended, matched=[t for t, _ in pairs], improved=improved)

    def end_all(self) -> list[Track]:
        """End every track (camera stopping or reconnecting); return the confirmed ones."""
        ended = [t for t in self._tracks if t.confirmed]
        self._tracks = []
        return ended

    def coverage_boxes(self, now: float, tentative: bool = False) -> list[Box]:
        """Return, per track matched on the last run, the box spanning its last and predicted boxes.

        Motion there is explained by the track: it is where the object was and where it should be now.
        Confirmed tracks only, unless `tentative`: the planner re-runs sooner while motion lies on tentative
        tracks, so a newcomer is confirmed (and reported) after a few frames, not a few refresh intervals.
        """
        return [
            union_box([t.box, t.predict(now)]) for t in self._tracks if t.misses == 0 and (tentative or t.confirmed)
        ]

    def _new_track(self, det: Detection, now: float, at: datetime) -> Track:
        category = CATEGORY_BY_LABEL[det.label]
        track = Track(
            id=self._next_id,
            category=category,
            box=det.box,
            score=det.score,
            first_seen=now,
            last_seen=now,
            first_seen_at=at,
            last_seen_at=at,
        )
        self._next_id += 1
        track.labels[det.label] += 1
        track.best_score = det.score
        track.best_quality = sighting_quality(det)
        track.best_box = det.box
        track.best_at = at
        track.path.append((now, anchor_point(det.box)))
        self._tracks.append(track)
        return track

    def _hit(self, track: Track, det: Detection, now: float, at: datetime) -> bool:
        """Update a track with its matched detection; return whether this is its best sighting so far."""
        dt = now - track.last_seen
        if dt > 0:
            (ox, oy), (nx, ny) = center(track.box), center(det.box)
            vx = VELOCITY_SMOOTHING * (nx - ox) / dt + (1 - VELOCITY_SMOOTHING) * track.velocity[0]
            vy = VELOCITY_SMOOTHING * (ny - oy) / dt + (1 - VELOCITY_SMOOTHING) * track.velocity[1]
            # Box jitter over a short interval can fake a large speed; nothing we track moves faster than
            # a few of its own sizes per second.
            limit = MAX_SPEED_SIZES * max(det.x2 - det.x1, det.y2 - det.y1)
            speed = (vx * vx + vy * vy) ** 0.5
            if speed > limit:
                vx, vy = vx * limit / speed, vy * limit / speed
            track.velocity = (vx, vy)
        track.box = det.box
        track.score = det.score
        track.last_seen = now
        track.last_seen_at = at
        track.hits += 1
        track.misses = 0
        track.labels[det.label] += 1
        track.path.append((now, anchor_point(det.box)))
        if len(track.path) > PATH_LIMIT:
            del track.path[: len(track.path) - PATH_LIMIT]
        track.best_score = max(track.best_score, det.score)
        quality = sighting_quality(det)
        if quality > track.best_quality:
            track.best_quality = quality
            track.best_box = det.box
            track.best_at = at
            return True
        return False


def _associate_near(
    tracks: list[Track],
    dets: list[Detection],
    predicted: dict[int, Box],
    now: float,
    pairs: list[tuple[Track, Detection]],
) -> tuple[list[Track], list[Detection]]:
    """Pair tracks and detections of one category and similar height whose centres are close.

    Appends the pairs (nearest first) and returns the unmatched tracks and detections.
    """
    candidates: list[tuple[float, int, int]] = []
    for ti, track in enumerate(tracks):
        box = predicted[track.id]
        height = max(1.0, box[3] - box[1])
        gate = min(NEAR_GATE_MAX, NEAR_GATE_BASE + NEAR_GATE_PER_S * (now - track.last_seen)) * height
        (tx, ty) = center(box)
        for di, det in enumerate(dets):
            if CATEGORY_BY_LABEL[det.label] != track.category:
                continue
            ratio = max(1.0, det.y2 - det.y1) / height
            if not 1 / NEAR_SIZE_RATIO <= ratio <= NEAR_SIZE_RATIO:
                continue
            (dx, dy) = center(det.box)
            distance = ((dx - tx) ** 2 + (dy - ty) ** 2) ** 0.5
            if distance <= gate:
                candidates.append((distance / height, ti, di))
    return _take_greedily([(ti, di) for _, ti, di in sorted(candidates)], tracks, dets, pairs)


def _near_edge(box: Box, width: int, height: int) -> bool:
    """Return whether a box is within its own size of the frame's border."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    return box[0] < bw or box[1] < bh or box[2] > width - bw or box[3] > height - bh


def _associate(
    tracks: list[Track],
    dets: list[Detection],
    predicted: dict[int, Box],
    min_iou: float,
    pairs: list[tuple[Track, Detection]],
) -> tuple[list[Track], list[Detection]]:
    """Greedily pair tracks and detections of the same category by descending IoU (>= min_iou).

    Appends the pairs and returns the unmatched tracks and detections.
    """
    if not tracks or not dets:
        return list(tracks), list(dets)
    ious = iou_matrix([predicted[t.id] for t in tracks], [d.box for d in dets])
    same = np.array([[t.category == CATEGORY_BY_LABEL[d.label] for d in dets] for t in tracks])
    ious = np.where(same, ious, 0.0)
    # A handful of objects per frame: a greedy pass over the sorted IoUs matches Hungarian in practice.
    ranked: list[tuple[int, int]] = []
    for flat in np.argsort(-ious, axis=None, kind="stable").tolist():
        ti, di = divmod(flat, len(dets))
        if ious[ti, di] < min_iou:
            break
        ranked.append((ti, di))
    return _take_greedily(ranked, tracks, dets, pairs)


def _take_greedily(
    ranked: list[tuple[int, int]],
    tracks: list[Track],
    dets: list[Detection],
    pairs: list[tuple[Track, Detection]],
) -> tuple[list[Track], list[Detection]]:
    """Pair (track, detection) indices best first, skipping any whose track or detection is already taken.

    Appends the pairs and returns the unmatched tracks and detections.
    """
    used_t: set[int] = set()
    used_d: set[int] = set()
    for ti, di in ranked:
        if ti in used_t or di in used_d:
            continue
        used_t.add(ti)
        used_d.add(di)
        pairs.append((tracks[ti], dets[di]))
    return (
        [t for i, t in enumerate(tracks) if i not in used_t],
        [d for i, d in enumerate(dets) if i not in used_d],
    )
