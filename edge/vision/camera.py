"""Blocking frame capture from a video file, an RTSP/HTTP stream or a USB (V4L2) camera, sampled at a fixed rate."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edge.vision.config import CameraConfig

log = logging.getLogger(__name__)

RTSP_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
MAX_PLAUSIBLE_FPS = 240.0
USB_PREFIX = "/dev/video"

SourceKind = Literal["file", "stream", "usb"]


def source_kind(source: str) -> SourceKind:
    """Classify a configured source: a URL is a stream, /dev/videoN or a bare index a USB camera, else a file."""
    if "://" in source:
        return "stream"
    if source.isdigit() or source.startswith(USB_PREFIX):
        return "usb"
    return "file"


class CameraError(Exception):
    """A camera cannot be opened or read."""


class EndOfStream(CameraError):
    """A non-looping video file has no more frames."""


def redact_source(source: str) -> str:
    """Return the source with any URL credentials removed, safe to log."""
    if "://" not in source:
        return source
    parts = urlsplit(source)
    if parts.username is None and parts.password is None:
        return source
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class CameraSource:
    """Read frames from one file or stream at `fps`; every method blocks (run it in an executor).

    Files advance by the file's own frame rate, so a 10 fps file sampled at 2 fps yields every
    5th frame; with `realtime` they are also paced to wall-clock time. Streams and USB cameras
    (V4L2: `/dev/videoN` or an index such as "0") are live: drained continuously, the newest frame
    returned once per sampling interval. `position_s` is the media time of the last frame returned
    (file position, counting loops; monotonic clock for live sources).
    `interrupt()` may be called from any thread to make a pending read give up promptly.
    """

    def __init__(
        self,
        source: str,
        fps: float,
        *,
        loop: bool = True,
        realtime: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.source = source
        self.fps = fps
        self.loop = loop
        self.realtime = realtime
        self.timeout_s = timeout_s
        self.kind = source_kind(source)
        self.is_stream = self.kind != "file"  # live: drain and take the newest frame
        self._cap: cv2.VideoCapture | None = None
        self._lock = threading.Lock()  # one reader at a time; close waits for a read in progress
        self._interrupted = threading.Event()
        self._native_fps = fps
        self._pos = 0  # index of the next frame the capture will decode (files)
        self._next_index = 0.0  # fractional index of the next frame to return (files)
        self._next_due = 0.0  # monotonic time the next frame is due (pacing, streams)
        self._loop_offset_s = 0.0  # media time of the current file pass's first frame
        self.position_s = 0.0

    @classmethod
    def from_config(cls, cfg: CameraConfig, *, realtime: bool = False) -> CameraSource:
        """Build a source for a configured camera."""
        return cls(cfg.source, cfg.fps, loop=cfg.loop, realtime=realtime, timeout_s=cfg.timeout_s)

    @property
    def native_fps(self) -> float:
        """Return the file's own frame rate (the sampling rate when unknown or a stream)."""
        return self._native_fps

    def open(self) -> None:
        """Open the capture; raise CameraError if it cannot be opened."""
        with self._lock:
            self._open_locked()

    def read_sampled(self) -> np.ndarray:
        """Return the next sampled BGR frame; raise EndOfStream or CameraError on failure."""
        with self._lock:
            self._check_interrupted()
            if self._cap is None:
                self._open_locked()
            if self.is_stream:
                frame = self._read_stream()
                self.position_s = time.monotonic()
                return frame
            return self._read_file()

    def interrupt(self) -> None:
        """Make a pending or future read raise CameraError soon; safe from any thread."""
        self._interrupted.set()

    def close(self) -> None:
        """Interrupt reads and release the capture."""
        self._interrupted.set()
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open_locked(self) -> None:
        """Open the capture (lock held)."""
        shown = redact_source(self.source)
        if self.kind == "usb":
            self._open_usb_locked()
            return
        if not self.is_stream and not Path(self.source).is_file():
            raise CameraError(f"video file not found: {shown}")
        if self.source.lower().startswith(("rtsp://", "rtsps://")):
            # FFmpeg reads its options from this process-wide variable; TCP avoids UDP loss and NAT issues.
            # An operator's own setting wins.
            os.environ.setdefault(RTSP_OPTIONS_ENV, "rtsp_transport;tcp")
        timeout_ms = int(self.timeout_s * 1000)
        cap = cv2.VideoCapture(
            self.source,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
        )
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open video source {shown}")
        self._cap = cap
        self._pos = 0
        self._next_index = 0.0
        self._next_due = time.monotonic()
        if not self.is_stream:
            native = float(cap.get(cv2.CAP_PROP_FPS))
            if not math.isfinite(native) or not 0 < native <= MAX_PLAUSIBLE_FPS:
                log.warning("%s reports no usable frame rate (%s); sampling every frame", shown, native)
                native = self.fps
            self._native_fps = native
        log.info("opened video source %s", shown)

    def _open_usb_locked(self) -> None:
        """Open a V4L2 device by path or index (lock held)."""
        if self.source.startswith(USB_PREFIX) and not Path(self.source).exists():
            raise CameraError(f"USB camera {self.source} does not exist")
        device: int | str = int(self.source) if self.source.isdigit() else self.source
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open USB camera {self.source}")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low; the source drains anyway
        self._cap = cap
        self._next_due = time.monotonic()
        log.info("opened USB camera %s", self.source)

    def _check_interrupted(self) -> None:
        if self._interrupted.is_set():
            raise CameraError(f"camera {redact_source(self.source)} was closed")

    def _read_file(self) -> np.ndarray:
        """Skip to the next sampled frame of a file, looping at the end if configured."""
        # Never sample faster than the file has frames.
        step = max(1.0, self._native_fps / self.fps)
        if self.realtime:
            self._pace(step / self._native_fps)
        frame = self._decode_at(round(self._next_index))
        if frame is None:
            if not self.loop:
                raise EndOfStream(f"video file {self.source} ended")
            log.debug("restarting %s at the end of the file", self.source)
            assert self._cap is not None
            self._loop_offset_s += self._pos / self._native_fps
            self._cap.release()
            self._cap = None
            self._open_locked()
            frame = self._decode_at(0)
            if frame is None:
                raise CameraError(f"video file {self.source} has no readable frames")
        self.position_s = self._loop_offset_s + (self._pos - 1) / self._native_fps
        self._next_index += step
        return frame

    def _decode_at(self, index: int) -> np.ndarray | None:
        """Grab forward to frame `index` (or the next one if already past) and decode it."""
        cap = self._cap
        assert cap is not None
        while self._pos < index:
            self._check_interrupted()
            if not cap.grab():
                return None
            self._pos += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            return None
        self._pos += 1
        return frame

    def _read_stream(self) -> np.ndarray:
        """Drain a live stream until the next sample is due and return the newest frame."""
        cap = self._cap
        assert cap is not None
        interval = 1.0 / self.fps
        while True:
            self._check_interrupted()
            if not cap.grab():
                self._release_after_failure()
                raise CameraError(f"stream {redact_source(self.source)} stopped delivering frames")
            if time.monotonic() >= self._next_due:
                break
        ok, frame = cap.retrieve()
        if not ok or frame is None:
            self._release_after_failure()
            raise CameraError(f"cannot decode a frame from {redact_source(self.source)}")
        self._schedule_next(interval)
        return frame

    def _pace(self, interval: float) -> None:
        """Sleep until the next frame is due in wall-clock time; wake early if interrupted."""
        delay = self._next_due - time.monotonic()
        if delay > 0 and self._interrupted.wait(delay):
            self._check_interrupted()
        self._schedule_next(interval)

    def _schedule_next(self, interval: float) -> None:
        """Keep a steady rate from the previous due time, but never owe a burst after a stall."""
        now = time.monotonic()
        self._next_due += interval
        if self._next_due < now:
            self._next_due = now + interval

    def _release_after_failure(self) -> None:
        """Drop a broken capture so the next read reopens it."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
