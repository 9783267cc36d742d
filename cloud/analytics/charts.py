"""Line charts for the portal, drawn as SVG on the server (no script, no CDN: the portal works offline on a LAN).

A chart is geometry only (polyline points, axis labels); the template draws it with autoescaped text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 220
LEFT = 44
RIGHT = 8
TOP = 10
BOTTOM = 28


@dataclass(frozen=True)
class Line:
    """One series: its label, CSS class and `x,y` points."""

    label: str
    css: str
    points: str
    dashed: bool = False


@dataclass
class Chart:
    """A line chart's geometry."""

    title: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[Line] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    pending_x: float | None = None
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = float(10 ** len(str(int(value)))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return value


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None], bool]],
    pending_from: int | None = None,
) -> Chart:
    """Lay out series of values over the same buckets (`labels`); None values leave a gap in the line."""
    chart = Chart(title)
    count = max(len(labels), 1)
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - chart.plot_top
    top = _nice_max(max((v for _, _, values, _ in series for v in values if v is not None), default=0.0))

    def x_of(i: int) -> float:
        return round(chart.plot_left + (plot_w * (i + 0.5) / count), 1)

    def y_of(v: float) -> float:
        return round(chart.plot_bottom - plot_h * v / top, 1)

    for label, css, values, dashed in series:
        points = " ".join(f"{x_of(i)},{y_of(v)}" for i, v in enumerate(values) if v is not None)
        chart.lines.append(Line(label, css, points, dashed))
    every = max(1, count // 6)
    chart.x_labels = [(x_of(i), labels[i]) for i in range(0, len(labels), every)]
    chart.y_labels = [(y_of(top * f), f"{top * f:g}") for f in (0, 0.5, 1)]
    if pending_from is not None and pending_from < count:
        chart.pending_x = x_of(pending_from) - plot_w / count / 2
    return chart
