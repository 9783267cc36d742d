"""Draw detections on a frame and encode it as JPEG."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from edge.vision.detectors.base import Detection
from edge.vision.events import CATEGORY_BY_LABEL

JPEG_QUALITY = 85
# BGR colours per label family, so people and vehicles read apart at a glance.
PERSON_COLOUR = (60, 200, 60)
VEHICLE_COLOUR = (0, 165, 255)
OTHER_COLOUR = (255, 160, 0)


class EncodeError(Exception):
    """A frame could not be encoded."""


def colour_for(label: str) -> tuple[int, int, int]:
    """Return the BGR box colour for a label."""
    category = CATEGORY_BY_LABEL.get(label)
    if category == "person":
        return PERSON_COLOUR
    if category == "vehicle":
        return VEHICLE_COLOUR
    return OTHER_COLOUR


def annotate(
    frame_bgr: np.ndarray, detections: Iterable[Detection], captions: Sequence[str] | None = None
) -> np.ndarray:
    """Return a copy of the frame with each detection's box and caption (default 'label score') drawn on it."""
    out = frame_bgr.copy()
    h, w = out.shape[:2]
    thickness = max(1, round(min(h, w) / 300))
    font_scale = max(0.4, min(h, w) / 1200)
    for i, det in enumerate(detections):
        colour = colour_for(det.label)
        x1, y1 = int(round(det.x1)), int(round(det.y1))
        x2, y2 = int(round(det.x2)), int(round(det.y2))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = captions[i] if captions is not None else f"{det.label} {det.score:.2f}"
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        # Put the label above the box, or inside it when the box touches the top edge.
        top = y1 - th - baseline - 2 if y1 - th - baseline - 2 >= 0 else y1
        left = min(max(0, x1), max(0, w - tw - 2))
        cv2.rectangle(out, (left, top), (left + tw + 2, top + th + baseline + 2), colour, cv2.FILLED)
        cv2.putText(
            out,
            text,
            (left + 1, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return out


def encode_jpeg(frame_bgr: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """Encode a BGR frame as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise EncodeError(f"cannot JPEG-encode a frame of shape {frame_bgr.shape}")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG bytes to a BGR frame."""
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise EncodeError(f"cannot decode a JPEG of {len(data)} bytes")
    return frame


def annotated_jpeg(
    frame_bgr: np.ndarray, detections: Iterable[Detection], captions: Sequence[str] | None = None
) -> bytes:
    """Draw detections on a copy of the frame and return it as JPEG bytes."""
    return encode_jpeg(annotate(frame_bgr, detections, captions))
