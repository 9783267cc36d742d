"""Fitting a frame into a square network input: letterbox (keep the aspect ratio, pad) and its inverse."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # Ultralytics' letterbox grey


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was scaled and padded into the network input: input = frame * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float


IDENTITY_LETTERBOX = Letterbox(1.0, 0.0, 0.0)


def letterbox(
    frame_bgr: np.ndarray, size: int, pad: tuple[int, int, int] = (PAD_VALUE, PAD_VALUE, PAD_VALUE)
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio, pad centred to size x size with `pad` (BGR); return image and geometry."""
    h, w = frame_bgr.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    resized = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    padded = cv2.copyMakeBorder(
        resized,
        top,
        size - new_h - top,
        left,
        size - new_w - left,
        cv2.BORDER_CONSTANT,
        value=pad,
    )
    return padded, Letterbox(scale, float(left), float(top))


def unletterbox(boxes_xyxy: np.ndarray, geometry: Letterbox) -> np.ndarray:
    """Map input-pixel boxes back to frame pixels in place; return them."""
    boxes_xyxy[:, 0::2] = (boxes_xyxy[:, 0::2] - geometry.pad_x) / geometry.scale
    boxes_xyxy[:, 1::2] = (boxes_xyxy[:, 1::2] - geometry.pad_y) / geometry.scale
    return boxes_xyxy
