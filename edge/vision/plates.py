"""Read licence plates on vehicle crops with RapidOCR (PP-OCR det/rec ONNX models shipped in its wheel).

The OCR engine is loaded lazily, once, and every read is serialised: RapidOCR keeps per-call state on
its detector object, so two threads must not run it at once. One read of a vehicle crop takes a few
tens of milliseconds on a Pi-class CPU core, so serialising costs little next to the detector itself.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

# 4-10 letters/digits with at least one digit and one letter, after normalisation.
PLATE_PATTERN = re.compile(r"^(?=[A-Z0-9]*[0-9])(?=[A-Z0-9]*[A-Z])[A-Z0-9]{4,10}$")
_NOT_PLATE_CHAR = re.compile(r"[^A-Z0-9]")
# Fragments on one line whose horizontal gap is at most this many text heights belong to one plate.
MAX_GAP_HEIGHTS = 1.5
# Fragments whose vertical centres differ by less than this fraction of the taller one share a line.
SAME_LINE_FRACTION = 0.5
# RapidOCR drops fragments below this before we see them; our own threshold applies to whole plates.
ENGINE_TEXT_SCORE = 0.3
# Upscaling past this adds OCR time without adding detail the camera did not capture.
MAX_UPSCALE = 4.0


class PlateReaderError(Exception):
    """The OCR engine cannot be loaded or run."""


class PlateReaderConfig(BaseModel):
    """Licence plate reading on vehicle detections."""

    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Minimum OCR confidence of a whole plate reading."
    )
    pad_fraction: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="Vehicle box padding on each side, as a fraction of its width/height, before OCR.",
    )
    min_crop_side: int = Field(
        default=240,
        ge=32,
        le=2000,
        description="Small crops are upscaled (at most 4x) until their shorter side reaches this many pixels.",
    )
    max_side: int = Field(
        default=960, ge=64, le=4096, description="Longest side the OCR text detector works at, in pixels."
    )
    threads: int = Field(default=1, ge=1, le=64, description="onnxruntime intra-op threads of the OCR models.")


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A plate found on a vehicle: normalised text, confidence and box in frame pixels."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]
    raw: str  # the OCR text before normalisation, for diagnostics

    def as_dict(self) -> dict[str, Any]:
        """Return {text, confidence, box} for events and JSON."""
        return {"text": self.text, "confidence": self.confidence, "box": self.box}


@dataclass(frozen=True, slots=True)
class TextFragment:
    """One OCR text line: raw text, confidence and axis-aligned box (x1, y1, x2, y2)."""

    raw: str
    confidence: float
    box: tuple[float, float, float, float]

    @property
    def text(self) -> str:
        """Return the text normalised to uppercase letters and digits."""
        return normalise_plate_text(self.raw)

    @property
    def height(self) -> float:
        """Return the box height."""
        return self.box[3] - self.box[1]

    @property
    def center_y(self) -> float:
        """Return the vertical centre of the box."""
        return (self.box[1] + self.box[3]) / 2


def normalise_plate_text(raw: str) -> str:
    """Return the text uppercased with everything but A-Z and 0-9 removed."""
    return _NOT_PLATE_CHAR.sub("", raw.upper())


def is_plate_like(text: str) -> bool:
    """Return whether normalised text looks like a plate: 4-10 chars, a letter and a digit."""
    return PLATE_PATTERN.fullmatch(text) is not None


def choose_plate(fragments: Sequence[TextFragment], min_confidence: float) -> PlateRead | None:
    """Pick the most confident plate-like text, joining adjacent fragments of one line.

    Within a run of adjacent fragments the longest plate-like join wins ("KA 05" + "MX 2417" beats
    either half); between runs, the most confident. Confidence is the per-character mean.
    """
    best: PlateRead | None = None
    for run in _runs(fragments):
        candidate = _best_in_run(run, min_confidence)
        if candidate is not None and (best is None or candidate.confidence > best.confidence):
            best = candidate
    return best


def _runs(fragments: Sequence[TextFragment]) -> list[list[TextFragment]]:
    """Group fragments into lines, then split each line, left to right, where the gap is too wide."""
    lines: list[list[TextFragment]] = []
    for frag in sorted((f for f in fragments if f.text), key=lambda f: f.center_y):
        for line in lines:
            ref = line[-1]
            if abs(frag.center_y - ref.center_y) < SAME_LINE_FRACTION * max(frag.height, ref.height):
                line.append(frag)
                break
        else:
            lines.append([frag])
    runs: list[list[TextFragment]] = []
    for line in lines:
        line.sort(key=lambda f: f.box[0])
        run = [line[0]]
        for frag in line[1:]:
            gap = frag.box[0] - run[-1].box[2]
            if gap <= MAX_GAP_HEIGHTS * max(frag.height, run[-1].height):
                run.append(frag)
            else:
                runs.append(run)
                run = [frag]
        runs.append(run)
    return runs


def _best_in_run(run: list[TextFragment], min_confidence: float) -> PlateRead | None:
    """Return the longest confident plate-like join of consecutive fragments in a run."""
    best: PlateRead | None = None
    for i in range(len(run)):
        for j in range(i + 1, len(run) + 1):
            parts = run[i:j]
            text = "".join(p.text for p in parts)
            if len(text) > 10:
                break
            if not is_plate_like(text):
                continue
            confidence = sum(p.confidence * len(p.text) for p in parts) / len(text)
            if confidence < min_confidence:
                continue
            if best is None or (len(text), confidence) > (len(best.text), best.confidence):
                box = (
                    min(p.box[0] for p in parts),
                    min(p.box[1] for p in parts),
                    max(p.box[2] for p in parts),
                    max(p.box[3] for p in parts),
                )
                best = PlateRead(text, confidence, box, " ".join(p.raw for p in parts))
    return best


class PlateReader:
    """Read the licence plate of a detected vehicle.

    Thread-safe and blocking: call `read` from the vision executor, never on the event loop.
    The OCR models load on first use (about 0.4 s); call `load` at start-up to pay that early.
    """

    def __init__(self, config: PlateReaderConfig | None = None) -> None:
        self.config = config or PlateReaderConfig()
        self._lock = threading.Lock()
        self._engine: Any = None

    def load(self) -> None:
        """Load the OCR engine now if it is not loaded yet."""
        with self._lock:
            self._ensure_engine()

    def read(self, frame_bgr: np.ndarray, vehicle_box: Sequence[float]) -> PlateRead | None:
        """Return the plate on the vehicle at (x1, y1, x2, y2) in the frame, or None if none is legible."""
        crop, origin, scale = self._crop(frame_bgr, vehicle_box)
        if crop is None:
            return None
        with self._lock:
            engine = self._ensure_engine()
            try:
                result, _elapsed = engine(crop)
            except (cv2.error, ValueError, RuntimeError) as err:
                raise PlateReaderError(f"OCR failed on a {crop.shape[1]}x{crop.shape[0]} crop: {err}") from err
        fragments = [_fragment(item) for item in result or ()]
        plate = choose_plate(fragments, self.config.min_confidence)
        if plate is None:
            return None
        x1, y1, x2, y2 = plate.box
        ox, oy = origin
        frame_box = (ox + x1 / scale, oy + y1 / scale, ox + x2 / scale, oy + y2 / scale)
        return PlateRead(plate.text, plate.confidence, frame_box, plate.raw)

    def _crop(
        self, frame_bgr: np.ndarray, vehicle_box: Sequence[float]
    ) -> tuple[np.ndarray | None, tuple[int, int], float]:
        """Return the padded, possibly upscaled vehicle crop, its frame origin and the scale applied."""
        h, w = frame_bgr.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in vehicle_box)
        pad_x = (x2 - x1) * self.config.pad_fraction
        pad_y = (y2 - y1) * self.config.pad_fraction
        left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
        right, bottom = min(w, int(np.ceil(x2 + pad_x))), min(h, int(np.ceil(y2 + pad_y)))
        if right - left < 8 or bottom - top < 8:
            return None, (left, top), 1.0
        crop = frame_bgr[top:bottom, left:right]
        scale = min(MAX_UPSCALE, max(1.0, self.config.min_crop_side / min(crop.shape[:2])))
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(crop), (left, top), scale

    def _ensure_engine(self) -> Any:
        """Return the OCR engine, loading it on first use (caller holds the lock)."""
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as err:
                raise PlateReaderError(
                    "plate reading needs rapidocr-onnxruntime: "
                    "pip install --no-deps rapidocr-onnxruntime==1.4.4 pyclipper shapely pillow "
                    "(--no-deps: its opencv-python dependency would replace opencv-python-headless)"
                ) from err
            threads = self.config.threads
            try:
                self._engine = RapidOCR(
                    text_score=ENGINE_TEXT_SCORE,
                    det_limit_type="max",  # never upscale in the engine: _crop already sized the image
                    det_limit_side_len=self.config.max_side,
                    intra_op_num_threads=threads,
                    inter_op_num_threads=1,
                )
            except (OSError, ValueError, RuntimeError) as err:
                raise PlateReaderError(f"cannot load the RapidOCR models: {err}") from err
            log.info("loaded RapidOCR plate reader (%d thread(s))", threads)
        return self._engine


def _fragment(item: Sequence[Any]) -> TextFragment:
    """Convert one RapidOCR result [quad, text, score] into a TextFragment."""
    quad = np.asarray(item[0], dtype=np.float64).reshape(-1, 2)
    box = (float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()), float(quad[:, 1].max()))
    return TextFragment(str(item[1]), float(item[2]), box)
