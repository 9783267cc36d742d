"""Plane geometry on boxes, polygons and line segments, in frame pixels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
Point = tuple[float, float]
Side = Literal[-1, 0, 1]


def box_area(box: Box) -> float:
    """Return the area of a box (0 for an empty one)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def iou(a: Box, b: Box) -> float:
    """Return the intersection over union of two boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Return the [len(a), len(b)] matrix of pairwise IoUs."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    aa = np.asarray(a, dtype=np.float64)[:, None, :]
    bb = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(aa[..., 2], bb[..., 2]) - np.maximum(aa[..., 0], bb[..., 0]), 0.0, None)
    ih = np.clip(np.minimum(aa[..., 3], bb[..., 3]) - np.maximum(aa[..., 1], bb[..., 1]), 0.0, None)
    inter = iw * ih
    area_a = (aa[..., 2] - aa[..., 0]) * (aa[..., 3] - aa[..., 1])
    area_b = (bb[..., 2] - bb[..., 0]) * (bb[..., 3] - bb[..., 1])
    union = area_a + area_b - inter
    out: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def union_box(boxes: Sequence[Box]) -> Box:
    """Return the smallest box containing all boxes (at least one)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def center(box: Box) -> Point:
    """Return the centre of a box."""
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def anchor_point(box: Box) -> Point:
    """Return the bottom centre of a box: where a standing person or a vehicle touches the ground.

    Zones and lines are drawn on the ground in the image, so this is the point tested against them.
    """
    return ((box[0] + box[2]) / 2, box[3])


def contains(box: Box, point: Point) -> bool:
    """Return whether a point lies inside a box (edges included)."""
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Return whether a point lies inside a simple polygon (even-odd rule; points on an edge may go either way)."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def cross(o: Point, a: Point, b: Point) -> float:
    """Return the z component of (a - o) x (b - o): > 0 when b is to the left of o->a in y-up axes."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def side_of(line: tuple[Point, Point], point: Point) -> Side:
    """Return the sign of the cross product of the line direction and the point (0 when on the line)."""
    c = cross(line[0], line[1], point)
    return 1 if c > 0 else -1 if c < 0 else 0


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Return whether segment p1-p2 properly crosses segment q1-q2 (touching an endpoint counts)."""
    d1 = cross(q1, q2, p1)
    d2 = cross(q1, q2, p2)
    d3 = cross(p1, p2, q1)
    d4 = cross(p1, p2, q2)
    return (d1 * d2 <= 0) and (d3 * d4 <= 0) and not (d1 == 0 and d2 == 0)


def crossing_direction(line: tuple[Point, Point], start: Point, end: Point) -> Side:
    """Return how a movement from start to end crosses a line segment: +1, -1, or 0 when it does not.

    The sign is that of the cross product (B - A) x (end - start) of the line A->B and the movement, in
    image axes (y down). +1 means the object crossed to the right-hand side of the line as seen facing
    from A to B on the screen: for A on the left and B on the right, moving down the image. A movement
    that ends exactly on the line is not a crossing yet; the next one leaving it to the other side is.
    """
    a, b = line
    if not segments_intersect(start, end, a, b):
        return 0
    s_start = side_of(line, start)
    s_end = side_of(line, end)
    if s_end == 0 or s_start == s_end:
        return 0
    # side_of(end) has the sign of (B - A) x (end - A); after a crossing it equals that of (B - A) x movement.
    return s_end


def scale_points(points: Sequence[Point], width: int, height: int) -> list[Point]:
    """Scale normalised 0..1 points to frame pixels."""
    return [(x * width, y * height) for x, y in points]
