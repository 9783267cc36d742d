"""Decide, frame by frame, whether and where the detector runs.

Rules, in order (times are media seconds):
1. gating disabled, the first frame, or a global change (background reset): the full frame;
2. no full-frame run for `recheck_interval_s`: the full frame, so still objects are neither missed
   (someone who walked in while the camera was reconnecting) nor lost (a parked car);
3. nothing moved: skip;
4. all motion lies on confirmed, currently matched tracks (fewer moving pixels outside their slightly
   grown predicted boxes than the smallest blob) and the detector ran less than
   `track_refresh_s` ago: skip (the tracks coast at constant velocity until the next run); motion that
   also lies on tentative tracks waits only `tentative_refresh_s`, so newcomers are confirmed soon;
5. otherwise the padded box around all moving blobs, widened to the frame's aspect ratio (the detector
   stretches its input, so crops are distorted as the full frame is), when its area is at most
   `crop_max_fraction` of the frame; else the full frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from edge.vision.config import MotionConfig
from edge.vision.geometry import Box
from edge.vision.motion import MotionResult

PlanReason = Literal["always", "reset", "recheck", "motion"]
TRACK_MARGIN = 0.25  # motion this close to a track box (share of its size) belongs to the track


@dataclass(frozen=True, slots=True)
class InferencePlan:
    """Run the detector on `region` (None: the full frame)."""

    region: Box | None
    reason: PlanReason


class InferencePlanner:
    """Apply the gating rules for one camera; not thread-safe."""

    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self._last_full: float | None = None
        self._last_run: float | None = None

    def reset(self) -> None:
        """Forget the run history (after a reconnect): the next frame with motion runs on the full frame."""
        self._last_full = None
        self._last_run = None

    def plan(
        self,
        motion: MotionResult | None,
        frame_size: tuple[int, int],
        now: float,
        track_boxes: Sequence[Box],
        tentative_boxes: Sequence[Box] = (),
    ) -> InferencePlan | None:
        """Return where to run the detector on this frame, or None to skip it.

        `track_boxes` cover the confirmed tracks, `tentative_boxes` all matched tracks, confirmed or not.
        """
        if motion is None or not self.cfg.enabled:
            return self._ran(InferencePlan(None, "always"), now)
        if motion.reset or self._last_full is None:
            return self._ran(InferencePlan(None, "reset"), now)
        if now - self._last_full >= self.cfg.recheck_interval_s:
            return self._ran(InferencePlan(None, "recheck"), now)
        if not motion.boxes:
            return None
        since = None if self._last_run is None else now - self._last_run
        least = max(1.0, motion.min_pixels)
        if since is not None and since < self.cfg.track_refresh_s:
            if motion.pixels_outside([_grown(b) for b in track_boxes]) < least:
                return None
            if since < self.cfg.tentative_refresh_s and tentative_boxes:
                if motion.pixels_outside([_grown(b) for b in tentative_boxes]) < least:
                    return None
        region = self.crop_for(motion.boxes, frame_size)
        return self._ran(InferencePlan(region, "motion"), now)

    def crop_for(self, boxes: Sequence[Box], frame_size: tuple[int, int]) -> Box | None:
        """Return the padded crop around moving blobs, or None when it is too large to be worth it."""
        width, height = frame_size
        x1 = min(b[0] for b in boxes)
        y1 = min(b[1] for b in boxes)
        x2 = max(b[2] for b in boxes)
        y2 = max(b[3] for b in boxes)
        pad_x = (x2 - x1) * self.cfg.crop_padding
        pad_y = (y2 - y1) * self.cfg.crop_padding
        side_min = self.cfg.min_crop_fraction * min(width, height)
        cw = max(x2 - x1 + 2 * pad_x, side_min)
        ch = max(y2 - y1 + 2 * pad_y, side_min)
        # Widen the short side to the frame's aspect ratio so the crop is stretched like the full frame.
        aspect = width / height
        if cw / ch < aspect:
            cw = ch * aspect
        else:
            ch = cw / aspect
        if cw >= width or ch >= height or cw * ch > self.cfg.crop_max_fraction * width * height:
            return None
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left = min(max(0.0, cx - cw / 2), width - cw)
        top = min(max(0.0, cy - ch / 2), height - ch)
        return (float(round(left)), float(round(top)), float(round(left + cw)), float(round(top + ch)))

    def _ran(self, plan: InferencePlan, now: float) -> InferencePlan:
        self._last_run = now
        if plan.region is None:
            self._last_full = now
        return plan


def _grown(box: Box) -> Box:
    """Return a track box grown by TRACK_MARGIN of its size on each side (motion blobs are dilated)."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * TRACK_MARGIN, (y2 - y1) * TRACK_MARGIN
    return (x1 - mx, y1 - my, x2 + mx, y2 + my)
