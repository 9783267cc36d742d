"""Frame sampling from the real video file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import CameraError, CameraSource, EndOfStream
from edge.vision.camera import redact_source, source_kind


def digest(frame: np.ndarray) -> bytes:
    """Return a short fingerprint of a frame's pixels."""
    return hashlib.blake2b(frame.tobytes(), digest_size=16).digest()


@pytest.fixture(scope="module")
def all_frames(vtest_path: Path) -> list[bytes]:
    """Return the fingerprint of every frame of vtest.avi, decoded sequentially."""
    cap = cv2.VideoCapture(str(vtest_path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(digest(frame))
    cap.release()
    return frames


def test_samples_every_fifth_frame_at_2_fps(vtest_path: Path, all_frames: list[bytes]) -> None:
    with CameraSource(str(vtest_path), 2.0, loop=False) as source:
        sampled = []
        with pytest.raises(EndOfStream):
            while True:
                sampled.append(digest(source.read_sampled()))

    assert source.native_fps == 10.0
    assert len(sampled) == len(all_frames[::5]) == 159
    assert sampled == all_frames[::5]


def test_loops_at_the_end_of_a_file(vtest_path: Path, all_frames: list[bytes]) -> None:
    with CameraSource(str(vtest_path), 5.0, loop=True) as source:
        frames = [digest(source.read_sampled()) for _ in range(len(all_frames) // 2 + 3)]

    # 795 frames at step 2 end with frame 794 (index 397); then the file starts again at frame 0.
    assert frames[395:] == [all_frames[790], all_frames[792], all_frames[794], all_frames[0], all_frames[2]]


def test_realtime_paces_to_the_sampling_rate(vtest_path: Path) -> None:
    with CameraSource(str(vtest_path), 10.0, realtime=True) as source:
        started = time.monotonic()
        for _ in range(4):
            source.read_sampled()
        elapsed = time.monotonic() - started

    # Three 0.1 s intervals after the first frame: never faster. The upper bound only catches pacing in the wrong
    # unit (1 s intervals would take 3 s); a loaded 2-core box stretches honest decoding well past 1 s.
    assert 0.25 <= elapsed < 2.5


def test_missing_file_raises_camera_error(tmp_path: Path) -> None:
    with (
        pytest.raises(CameraError, match="not found"),
        CameraSource(str(tmp_path / "none.avi"), 2.0) as source,
    ):
        source.read_sampled()


def test_unreachable_stream_raises_camera_error() -> None:
    # Port 9 (discard) on localhost refuses at once, so this fails fast rather than waiting for the timeout.
    with CameraSource("rtsp://user:secret@127.0.0.1:9/cam", 2.0, timeout_s=2.0) as source:
        with pytest.raises(CameraError) as info:
            source.read_sampled()
    assert "secret" not in str(info.value)


def test_interrupt_makes_reads_fail(vtest_path: Path) -> None:
    source = CameraSource(str(vtest_path), 2.0)
    source.read_sampled()
    source.interrupt()
    with pytest.raises(CameraError, match="closed"):
        source.read_sampled()
    source.close()


def test_redact_source_hides_credentials() -> None:
    assert redact_source("rtsp://admin:pw@10.0.0.5:554/s1") == "rtsp://***@10.0.0.5:554/s1"
    assert redact_source("/videos/a.mp4") == "/videos/a.mp4"


def test_source_kinds() -> None:
    assert source_kind("rtsp://cam/1") == source_kind("http://cam/mjpeg") == "stream"
    assert source_kind("/dev/video0") == source_kind("0") == source_kind("12") == "usb"
    assert source_kind("/videos/a.mp4") == source_kind("clip0.avi") == "file"


def test_missing_usb_camera_raises_camera_error() -> None:
    with pytest.raises(CameraError, match="/dev/video57 does not exist"), CameraSource("/dev/video57", 5.0) as source:
        source.read_sampled()
    with pytest.raises(CameraError, match="cannot open USB camera 57"), CameraSource("57", 5.0) as source:
        assert source.is_stream  # a USB camera is live: drained, newest frame
        source.read_sampled()


def test_file_position_counts_loops(vtest_path: Path) -> None:
    with CameraSource(str(vtest_path), 5.0, loop=True) as source:
        positions = []
        for _ in range(400):
            source.read_sampled()
            positions.append(source.position_s)
    assert positions[:3] == [0.0, 0.2, 0.4]
    assert positions[397] == pytest.approx(79.4)  # frame 794, the last one
    assert positions[398] == pytest.approx(79.5)  # frame 0 again, one clip length (795 frames) later
    assert all(b > a for a, b in zip(positions, positions[1:], strict=False))
