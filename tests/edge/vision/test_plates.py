"""Plate reading with RapidOCR on plates rendered onto the parked van of a real vtest.avi frame."""

from __future__ import annotations

import concurrent.futures

import cv2
import numpy as np
import pytest

from edge.vision import NanoDetDetector
from edge.vision.detectors.base import Detection
from edge.vision.plates import (
    PlateRead,
    PlateReader,
    PlateReaderConfig,
    TextFragment,
    choose_plate,
    normalise_plate_text,
)

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.35  # ~9 px high text: a plate as wide as the van, the van being ~73 px wide at 768x576
VEHICLES = {"car", "truck", "bus"}


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    """One reader for the module: the OCR engine loads once, as it would in the app."""
    return PlateReader(PlateReaderConfig(min_confidence=0.7))


@pytest.fixture(scope="module")
def van_box(nanodet: NanoDetDetector, frame_100: np.ndarray) -> tuple[float, float, float, float]:
    """Return the box NanoDet finds for the parked white van near the top right of frame 100."""
    vehicles = [d for d in nanodet.detect(frame_100) if d.label in VEHICLES]
    # The van sits at about x 650-725, y 45-98; the car cut by the right edge starts at x ~733.
    van: list[Detection] = [d for d in vehicles if 620 < d.x1 < 700 and d.x2 < 732 and d.y2 < 130]
    assert van, f"van not detected: {vehicles}"
    return max(van, key=lambda d: d.score).box


def render_plate(
    frame: np.ndarray, box: tuple[float, float, float, float], parts: list[str], gap: int = 0
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Draw black text parts in a white rectangle centred low on the box; return the image and the rectangle."""
    sizes = [cv2.getTextSize(p, FONT, FONT_SCALE, 1)[0] for p in parts]
    width = sum(w for w, _ in sizes) + gap * (len(parts) - 1)
    height = max(h for _, h in sizes)
    x1, y1, x2, y2 = box
    left = int((x1 + x2) / 2 - width / 2)
    top = int(y1 + 0.64 * (y2 - y1))
    out = frame.copy()
    rect = (left - 2, top - 2, left + width + 2, top + height + 5)
    cv2.rectangle(out, rect[:2], rect[2:], (255, 255, 255), cv2.FILLED)
    x = left
    for part, (w, _) in zip(parts, sizes, strict=True):
        cv2.putText(out, part, (x, top + height), FONT, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        x += w + gap
    return out, rect


def _centre_inside(plate: PlateRead, rect: tuple[int, int, int, int]) -> bool:
    cx, cy = (plate.box[0] + plate.box[2]) / 2, (plate.box[1] + plate.box[3]) / 2
    return rect[0] <= cx <= rect[2] and rect[1] <= cy <= rect[3]


@pytest.mark.parametrize(("printed", "expected"), [("KA 05 MX 2417", "KA05MX2417"), ("B-XY 1234", "BXY1234")])
def test_reads_a_plate_on_the_real_van(
    reader: PlateReader,
    frame_100: np.ndarray,
    van_box: tuple[float, float, float, float],
    printed: str,
    expected: str,
) -> None:
    image, rect = render_plate(frame_100, van_box, [printed])

    plate = reader.read(image, van_box)

    assert plate is not None
    assert plate.text == expected
    assert 0.7 <= plate.confidence <= 1.0
    # The box comes back in frame pixels, on the rendered plate rather than on the crop.
    assert _centre_inside(plate, rect), (plate.box, rect)
    assert plate.box[2] - plate.box[0] <= rect[2] - rect[0] + 6


def test_joins_fragments_of_one_plate(
    reader: PlateReader, frame_100: np.ndarray, van_box: tuple[float, float, float, float]
) -> None:
    # A 12 px gap makes the OCR detector return two text boxes ("KA05", "MX 2417").
    image, rect = render_plate(frame_100, van_box, ["KA 05", "MX 2417"], gap=12)

    plate = reader.read(image, van_box)

    assert plate is not None
    assert plate.text == "KA05MX2417"
    assert _centre_inside(plate, rect)


@pytest.mark.parametrize("which", ["van", "car at the right edge"])
def test_a_real_vehicle_without_readable_text_gives_none(
    reader: PlateReader,
    nanodet: NanoDetDetector,
    frame_100: np.ndarray,
    van_box: tuple[float, float, float, float],
    which: str,
) -> None:
    if which == "van":
        box = van_box
    else:
        cars = [d for d in nanodet.detect(frame_100) if d.label in VEHICLES and d.x1 > 728]
        assert cars
        box = cars[0].box

    assert reader.read(frame_100, box) is None


def test_confidence_threshold_applies(frame_100: np.ndarray, van_box: tuple[float, float, float, float]) -> None:
    image, _ = render_plate(frame_100, van_box, ["B-XY 1234"])
    lenient = PlateReader(PlateReaderConfig(min_confidence=0.5)).read(image, van_box)
    assert lenient is not None and lenient.confidence < 1.0

    strict = PlateReader(PlateReaderConfig(min_confidence=min(1.0, lenient.confidence + 1e-6)))
    assert strict.read(image, van_box) is None


def test_reads_from_two_threads_agree(
    reader: PlateReader, frame_100: np.ndarray, van_box: tuple[float, float, float, float]
) -> None:
    images = [render_plate(frame_100, van_box, [t])[0] for t in ("KA 05 MX 2417", "B-XY 1234")] * 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda img: getattr(reader.read(img, van_box), "text", None), images))

    assert texts == ["KA05MX2417", "BXY1234"] * 3


def test_a_degenerate_box_gives_none(reader: PlateReader, frame_100: np.ndarray) -> None:
    assert reader.read(frame_100, (700.0, 60.0, 702.0, 61.0)) is None


def _frag(raw: str, confidence: float, x1: float, y1: float, x2: float, y2: float) -> TextFragment:
    return TextFragment(raw, confidence, (x1, y1, x2, y2))


def test_normalise_keeps_uppercase_letters_and_digits() -> None:
    assert normalise_plate_text("b-xy 1234") == "BXY1234"
    assert normalise_plate_text("KA·05·MX·2417 ") == "KA05MX2417"
    assert normalise_plate_text("粤B 12345") == "B12345"


def test_choose_plate_rejects_text_that_is_no_plate() -> None:
    fragments = [
        _frag("HELLO", 0.99, 0, 0, 50, 10),  # no digit
        _frag("0800 123", 0.99, 0, 40, 60, 50),  # no letter
        _frag("AB1", 0.99, 0, 80, 30, 90),  # too short
        _frag("ABCDEF123456", 0.99, 0, 120, 90, 130),  # too long
    ]
    assert choose_plate(fragments, 0.5) is None


def test_choose_plate_joins_a_line_and_drops_weak_runs() -> None:
    fragments = [
        _frag("KA 05", 0.95, 10, 100, 40, 110),
        _frag("MX 2417", 0.97, 50, 101, 90, 111),  # 10 px gap = 1 text height: same plate
        _frag("XY99", 0.60, 200, 100, 230, 110),  # far right on the same line: its own run, too weak
    ]

    plate = choose_plate(fragments, 0.7)

    assert plate is not None
    assert plate.text == "KA05MX2417"
    assert plate.raw == "KA 05 MX 2417"
    assert plate.box == (10, 100, 90, 111)
    assert plate.confidence == pytest.approx((0.95 * 4 + 0.97 * 6) / 10)


def test_choose_plate_picks_the_most_confident_of_separate_lines() -> None:
    fragments = [
        _frag("AB 1234", 0.80, 10, 100, 60, 110),
        _frag("CD 5678", 0.92, 10, 20, 60, 30),
    ]

    plate = choose_plate(fragments, 0.7)

    assert plate is not None
    assert plate.text == "CD5678"
