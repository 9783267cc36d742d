"""`outpost-provision add-camera URL`: probe a stream, try the detector on it, suggest settings, add it to the config.

The probe uses the edge's own pieces: `edge.vision.camera` (source kinds, RTSP over TCP), the configured detector
(`edge.vision.detectors.registry.load_detector`, the box's real ONNX model) and `edge.vision.annotate` for the
snapshot, so what the installer sees is what the box will do.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.config import EdgeConfig
from edge.vision.annotate import annotated_jpeg
from edge.vision.camera import RTSP_OPTIONS_ENV, redact_source, source_kind
from edge.vision.config import DetectorConfig
from edge.vision.detectors.base import Detection, DetectorError
from edge.vision.detectors.registry import load_detector
from edge.vision.model_files import ModelNotFoundError
from provisioning.config_edit import edit_config, ensure_zone
from provisioning.rtsp_probe import StreamProblem, probe_rtsp

Progress = Callable[[str], None]
CPU_BUDGET = 0.5  # share of the box's CPU time detection may take across all cameras
MAX_SUGGESTED_FPS = 10.0
PROBE_FRAMES = 5
OPEN_ATTEMPTS = 3


class AddCameraArgs(BaseModel):
    """What the installer asked for."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00-\x1f\x7f]+$", description="Stream source")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Camera id")
    name: str = Field(default="", max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$", description="Human name")
    zone: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Zone it watches")
    snapshot: Path = Field(description="Where the test snapshot (JPEG, boxes drawn) goes")
    seconds: float = Field(default=3.0, gt=0, le=60, description="How long to watch a live stream")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Open/read timeout")


@dataclass(frozen=True)
class StreamInfo:
    """What the probe saw."""

    kind: str
    width: int
    height: int
    fps: float
    frames: list[np.ndarray]


@dataclass(frozen=True)
class CameraReport:
    """The outcome shown to the installer."""

    stream: StreamInfo
    detections: list[Detection]
    inference_ms: float
    model_input: int
    detect_fps: float
    detect_size: int
    snapshot: Path
    cameras_on_box: int


def probe_stream(url: str, seconds: float, timeout_s: float, progress: Progress) -> StreamInfo:
    """Open the source, read frames and measure its resolution and frame rate; raise StreamProblem."""
    kind = source_kind(url)
    shown = redact_source(url)
    if kind == "file" and not Path(url).is_file():
        raise StreamProblem(f"no such video file: {url}; give the full path, an rtsp:// URL or a USB index")
    if url.lower().startswith(("rtsp://", "rtsps://")):
        progress(f"asking {shown} for its stream (RTSP DESCRIBE) ...")
        probe_rtsp(url, timeout_s=min(timeout_s, 5.0))
        os.environ.setdefault(RTSP_OPTIONS_ENV, "rtsp_transport;tcp")
    progress(f"opening {shown} ...")
    cap = _open_capture(url, kind, timeout_s)
    if not cap.isOpened() and kind == "stream":
        # A camera (or RTSP server) still tearing down the session of the DESCRIBE above may answer 503 once.
        for attempt in range(2, OPEN_ATTEMPTS + 1):
            cap.release()
            time.sleep(1.0)
            progress(f"opening {shown} again (attempt {attempt} of {OPEN_ATTEMPTS}) ...")
            cap = _open_capture(url, kind, timeout_s)
            if cap.isOpened():
                break
    try:
        if not cap.isOpened():
            if kind == "file":
                raise StreamProblem(f"not a video: OpenCV cannot decode {url} (is it a video file?)")
            if kind == "usb":
                raise StreamProblem(f"cannot open USB camera {url}; check `ls /dev/video*` and the video group")
            raise StreamProblem(f"cannot open the stream {shown}; check the URL and that it carries video")
        reported = float(cap.get(cv2.CAP_PROP_FPS))
        frames: list[np.ndarray] = []
        started = time.monotonic()
        count = 0
        # Files: the first frames. Live sources: everything for `seconds`, keeping a few spread over the time.
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            count += 1
            if kind == "file":
                frames.append(frame)
                if len(frames) >= PROBE_FRAMES:
                    break
            else:
                frames = ([*frames, frame])[-PROBE_FRAMES:]
                if time.monotonic() - started >= seconds:
                    break
        elapsed = time.monotonic() - started
    finally:
        cap.release()
    if not frames:
        raise StreamProblem(f"not a video: {shown} opened but gave no frame; check that it carries video")
    height, width = frames[-1].shape[:2]
    measured = count / elapsed if kind != "file" and elapsed > 0 and count >= 3 else 0.0
    fps = measured or (reported if math.isfinite(reported) and 0 < reported <= 240 else 0.0)
    progress(f"{width}x{height} at {fps:.1f} fps ({'measured' if measured else 'reported'})")
    return StreamInfo(kind=kind, width=width, height=height, fps=fps, frames=frames)


def _open_capture(url: str, kind: str, timeout_s: float) -> cv2.VideoCapture:
    if kind == "usb":
        device: int | str = int(url) if url.isdigit() else url
        return cv2.VideoCapture(device, cv2.CAP_V4L2)
    ms = int(timeout_s * 1000)
    return cv2.VideoCapture(
        url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    )


def run_detector(
    detector_config: DetectorConfig, frames: list[np.ndarray], progress: Progress
) -> tuple[list[Detection], np.ndarray, float, int]:
    """Detect on the frames; return the richest frame's detections, that frame, median inference ms, input size."""
    progress("loading the detector model ...")
    try:
        detector = load_detector(detector_config)
    except (ModelNotFoundError, DetectorError) as err:
        raise StreamProblem(f"cannot load the detector ({err}); fix vision.detector.model_path first") from err
    timings: list[float] = []
    best: tuple[list[Detection], np.ndarray] = ([], frames[-1])
    for frame in frames:
        started = time.perf_counter()
        found = detector.detect(frame)
        timings.append(time.perf_counter() - started)
        if len(found) > len(best[0]):
            best = (found, frame)
    median_ms = statistics.median(timings) * 1000
    progress(f"detector: {median_ms:.0f} ms per frame on this box ({len(frames)} frames)")
    return best[0], best[1], median_ms, detector.input_size


def suggest_fps(inference_ms: float, cameras: int, source_fps: float) -> float:
    """Frames per second to detect on so all `cameras` together stay within CPU_BUDGET (0.5 fps steps)."""
    affordable = CPU_BUDGET / (max(inference_ms, 1.0) / 1000 * max(cameras, 1))
    ceiling = min(MAX_SUGGESTED_FPS, source_fps) if source_fps > 0 else MAX_SUGGESTED_FPS
    return max(0.5, math.floor(min(affordable, ceiling) * 2) / 2)


def suggest_detect_size(model_input: int, width: int, height: int) -> int:
    """The model's input size, or less when the frames are smaller (rounded up to a multiple of 32)."""
    longest = max(width, height)
    return model_input if longest >= model_input else max(32, math.ceil(longest / 32) * 32)


def refuse_duplicate(args: AddCameraArgs, config: EdgeConfig) -> None:
    """Raise StreamProblem when the id or the source is already a camera of the box (before any probing)."""
    for camera in config.cameras:
        if camera.id == args.id:
            raise StreamProblem(f"camera {args.id!r} is already in the config; pick another --id")
        if camera.source == args.url:
            raise StreamProblem(f"this source is already camera {camera.id!r}")


def examine_camera(args: AddCameraArgs, config: EdgeConfig, progress: Progress) -> CameraReport:
    """Probe the stream, run the box's detector on it, save the annotated snapshot, and suggest settings."""
    refuse_duplicate(args, config)
    stream = probe_stream(args.url, args.seconds, args.timeout_s, progress)
    detections, frame, inference_ms, model_input = run_detector(config.vision.detector, stream.frames, progress)
    args.snapshot.parent.mkdir(parents=True, exist_ok=True)
    args.snapshot.write_bytes(annotated_jpeg(frame, detections))
    cameras = 1 + sum(1 for c in config.cameras if c.enabled)
    return CameraReport(
        stream=stream,
        detections=detections,
        inference_ms=inference_ms,
        model_input=model_input,
        detect_fps=suggest_fps(inference_ms, cameras, stream.fps),
        detect_size=suggest_detect_size(model_input, stream.width, stream.height),
        snapshot=args.snapshot,
        cameras_on_box=cameras,
    )


def add_camera_to_config(config_path: Path, args: AddCameraArgs, fps: float, owner: str | None = None) -> bool:
    """Add the camera (validated, atomic); return whether its zone was created."""

    def change(data: dict[str, Any]) -> bool:
        cameras: list[dict[str, Any]] = data.setdefault("cameras", [])
        for camera in cameras:  # again: the file may have changed while the camera was examined
            if camera.get("id") == args.id:
                raise StreamProblem(f"camera {args.id!r} is already in the config; pick another --id")
            if camera.get("source") == args.url:
                raise StreamProblem(f"this source is already camera {camera.get('id')!r}")
        entry: dict[str, Any] = {"id": args.id, "name": args.name or args.id, "source": args.url, "fps": fps}
        zone_added = False
        if args.zone is not None:
            zone_added = ensure_zone(data, args.zone)
            entry["zone"] = args.zone
        cameras.append(entry)
        return zone_added

    return edit_config(config_path, change, owner)
