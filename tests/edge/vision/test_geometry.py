"""Box, polygon and line geometry on hand-made shapes."""

from __future__ import annotations

import pytest

from edge.vision.geometry import (
    anchor_point,
    crossing_direction,
    iou,
    iou_matrix,
    point_in_polygon,
    segments_intersect,
    side_of,
    union_box,
)

SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
# A concave "U": the notch between x=4..6 from y=0 to y=6 is outside.
U_SHAPE = [(0.0, 0.0), (4.0, 0.0), (4.0, 6.0), (6.0, 6.0), (6.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]


def test_iou_of_known_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching edges do not overlap
    matrix = iou_matrix([(0, 0, 10, 10), (100, 100, 110, 110)], [(5, 0, 15, 10), (0, 0, 10, 10), (50, 50, 60, 60)])
    assert matrix.shape == (2, 3)
    assert matrix[0].tolist() == pytest.approx([50 / 150, 1.0, 0.0])
    assert matrix[1].tolist() == [0.0, 0.0, 0.0]
    assert iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_union_and_anchor() -> None:
    assert union_box([(0, 5, 10, 10), (3, 1, 12, 8)]) == (0, 1, 12, 10)
    assert anchor_point((10, 20, 30, 100)) == (20, 100)  # bottom centre: the ground point


@pytest.mark.parametrize(
    ("point", "inside"),
    [((5, 5), True), ((-1, 5), False), ((11, 5), False), ((5, 11), False), ((0.1, 9.9), True)],
)
def test_point_in_convex_polygon(point: tuple[float, float], inside: bool) -> None:
    assert point_in_polygon(point, SQUARE) is inside


@pytest.mark.parametrize(
    ("point", "inside"),
    [((5, 3), False), ((5, 8), True), ((2, 3), True), ((8, 3), True), ((5, -1), False)],
)
def test_point_in_concave_polygon(point: tuple[float, float], inside: bool) -> None:
    assert point_in_polygon(point, U_SHAPE) is inside


def test_side_and_crossing_direction_follow_the_cross_product() -> None:
    line = ((0.0, 5.0), (10.0, 5.0))  # left to right across the image
    assert side_of(line, (5, 9)) == 1  # below the line (y down) is the right-hand side facing a -> b
    assert side_of(line, (5, 1)) == -1
    assert side_of(line, (5, 5)) == 0

    assert crossing_direction(line, (5, 1), (5, 9)) == 1  # moving down: "in"
    assert crossing_direction(line, (5, 9), (5, 1)) == -1  # moving up: "out"
    assert crossing_direction(line, (5, 1), (6, 3)) == 0  # no crossing
    assert crossing_direction(line, (-5, 1), (-5, 9)) == 0  # crosses the infinite line beside the segment
    assert crossing_direction(line, (5, 1), (5, 5)) == 0  # ends on the line: not yet

    reversed_line = ((10.0, 5.0), (0.0, 5.0))
    assert crossing_direction(reversed_line, (5, 1), (5, 9)) == -1  # swapping a and b swaps the direction


def test_segments_intersect_edge_cases() -> None:
    assert segments_intersect((0, 0), (10, 10), (0, 10), (10, 0))
    assert segments_intersect((0, 0), (5, 5), (5, 5), (10, 0))  # touching at an endpoint
    assert not segments_intersect((0, 0), (1, 1), (2, 2), (3, 3))  # collinear, apart
    assert not segments_intersect((0, 0), (10, 0), (0, 1), (10, 1))  # parallel
