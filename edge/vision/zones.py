"""Zone and line analytics over confirmed tracks: enter/leave, loitering, line crossings, occupancy.

A track's position is the bottom centre of its box (its ground point). Zones and lines are configured
in normalised coordinates and scaled to the frame once its size is known.

Line crossings use hysteresis so a person standing on a line is not counted back and forth: each
(track, line) remembers the last point that was clearly on one side (at least `HYSTERESIS` of the box
height away from the line's infinite extension); a crossing is counted when the movement from that point
to a point clearly on the other side passes through the segment itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edge.vision.config import LineConfig, ZoneRegionConfig
from edge.vision.events import CATEGORIES, Category
from edge.vision.geometry import Point, crossing_direction, point_in_polygon, scale_points
from edge.vision.tracking import Track

HYSTERESIS = 0.1  # share of the box height a ground point must be away from a line to count as on a side

RegionEventKind = Literal["zone_entered", "zone_left", "loitering", "line_crossed"]


@dataclass(frozen=True, slots=True)
class RegionEvent:
    """Something a track did relative to a zone or line."""

    kind: RegionEventKind
    track: Track
    region: str
    occurred_at: datetime
    direction: Literal["in", "out"] | None = None  # line crossings
    region_dwell_s: float | None = None  # time in the zone (left, loitering)


@dataclass(slots=True)
class _Presence:
    entered: float  # media time
    loiter_reported: bool = False


@dataclass(slots=True)
class _TrackState:
    inside: dict[str, _Presence] = field(default_factory=dict)
    visited: list[str] = field(default_factory=list)
    line_points: dict[str, Point] = field(default_factory=dict)  # last point clearly on one side, per line


@dataclass(slots=True)
class _Line:
    cfg: LineConfig
    a: Point
    b: Point
    counts: dict[str, dict[Category, int]]


class SceneAnalytics:
    """Per-camera zone and line state; feed it confirmed tracks' sightings in time order. Not thread-safe."""

    def __init__(self, zones: Sequence[ZoneRegionConfig], lines: Sequence[LineConfig]) -> None:
        self._zone_cfgs = list(zones)
        self._line_cfgs = list(lines)
        self._size: tuple[int, int] | None = None
        self._zones: dict[str, list[Point]] = {}
        self._lines: dict[str, _Line] = {
            ln.name: _Line(ln, ln.a, ln.b, {"in": dict.fromkeys(CATEGORIES, 0), "out": dict.fromkeys(CATEGORIES, 0)})
            for ln in lines
        }
        self._state: dict[int, _TrackState] = {}
        self._tracks: dict[int, Track] = {}

    def set_frame_size(self, width: int, height: int) -> None:
        """Scale the normalised zones and lines to a frame size (on the first frame and on a change)."""
        if self._size == (width, height):
            return
        self._size = (width, height)
        self._zones = {z.name: scale_points(z.polygon, width, height) for z in self._zone_cfgs}
        for line in self._lines.values():
            line.a, line.b = scale_points([line.cfg.a, line.cfg.b], width, height)

    def keep_counts(self, previous: SceneAnalytics) -> None:
        """Carry the counts of `previous`'s lines that this scene has under the same name (a redrawn line)."""
        for name, line in self._lines.items():
            old = previous._lines.get(name)
            if old is not None:
                line.counts = {way: dict(counts) for way, counts in old.counts.items()}

    def visited(self, track_id: int) -> list[str]:
        """Return the zones a track has been in, in order of first entry."""
        state = self._state.get(track_id)
        return list(state.visited) if state else []

    def observe(self, track: Track, now: float, point: Point, at: datetime) -> list[RegionEvent]:
        """Record a confirmed track's ground point at media time `now`; return the events it causes."""
        if self._size is None:
            raise RuntimeError("set_frame_size must be called before observe")
        state = self._state.setdefault(track.id, _TrackState())
        self._tracks[track.id] = track
        events: list[RegionEvent] = []
        for cfg in self._zone_cfgs:
            if track.category not in cfg.categories:
                continue
            inside = point_in_polygon(point, self._zones[cfg.name])
            presence = state.inside.get(cfg.name)
            if inside and presence is None:
                state.inside[cfg.name] = _Presence(entered=now)
                if cfg.name not in state.visited:
                    state.visited.append(cfg.name)
                events.append(RegionEvent("zone_entered", track, cfg.name, at))
            elif not inside and presence is not None:
                del state.inside[cfg.name]
                events.append(RegionEvent("zone_left", track, cfg.name, at, region_dwell_s=now - presence.entered))
        margin = HYSTERESIS * max(1.0, track.box[3] - track.box[1])
        for name, line in self._lines.items():
            if track.category not in line.cfg.categories:
                continue
            if _distance_to_line(line.a, line.b, point) < margin:
                continue  # too close to call a side
            previous = state.line_points.get(name)
            state.line_points[name] = point
            if previous is None:
                continue
            direction = crossing_direction((line.a, line.b), previous, point)
            if direction:
                way: Literal["in", "out"] = "in" if direction > 0 else "out"
                line.counts[way][track.category] += 1
                events.append(RegionEvent("line_crossed", track, name, at, direction=way))
        events.extend(self._loitering(track.id, now, at))
        return events

    def tick(self, now: float, at: datetime) -> list[RegionEvent]:
        """Report loitering that became due even though the tracks did not move (call once per frame)."""
        events: list[RegionEvent] = []
        for track_id in list(self._state):
            events.extend(self._loitering(track_id, now, at))
        return events

    def end(self, track: Track, at: datetime) -> list[RegionEvent]:
        """Forget an ended track; it leaves every zone it was in (at its last sighting)."""
        state = self._state.pop(track.id, None)
        self._tracks.pop(track.id, None)
        if state is None:
            return []
        return [
            RegionEvent("zone_left", track, name, at, region_dwell_s=track.last_seen - presence.entered)
            for name, presence in state.inside.items()
        ]

    def snapshot(self) -> dict[str, object]:
        """Return live occupancy per zone and category, and line counts per direction and category."""
        occupancy = {z.name: dict.fromkeys(CATEGORIES, 0) for z in self._zone_cfgs}
        for track_id, state in self._state.items():
            category = self._tracks[track_id].category
            for name in state.inside:
                occupancy[name][category] += 1
        lines = {name: {way: dict(counts) for way, counts in line.counts.items()} for name, line in self._lines.items()}
        return {"zones": occupancy, "lines": lines}

    def _loitering(self, track_id: int, now: float, at: datetime) -> list[RegionEvent]:
        state = self._state[track_id]
        events: list[RegionEvent] = []
        for cfg in self._zone_cfgs:
            presence = state.inside.get(cfg.name)
            if presence is None or presence.loiter_reported or cfg.loiter_s is None:
                continue
            if now - presence.entered >= cfg.loiter_s:
                presence.loiter_reported = True
                dwell = now - presence.entered
                events.append(RegionEvent("loitering", self._tracks[track_id], cfg.name, at, region_dwell_s=dwell))
        return events


def _distance_to_line(a: Point, b: Point, p: Point) -> float:
    """Return the distance from p to the infinite line through a and b."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    return abs((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / length
