"""Event clips written from real vtest.avi frames, reopened with OpenCV."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import clips as clips_module
from edge.vision.clips import ClipConfig, ClipError, ClipRecorder
from tests.polling import eventually

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOURCE_FPS = 10.0  # vtest.avi's frame rate


@pytest.fixture(scope="module")
def vtest_frames(vtest_path: Path) -> list[np.ndarray]:
    """Return the first 100 frames (10 s) of vtest.avi."""
    cap = cv2.VideoCapture(str(vtest_path), cv2.CAP_FFMPEG)
    frames: list[np.ndarray] = []
    try:
        while len(frames) < 100:
            ok, frame = cap.read()
            assert ok
            frames.append(frame)
    finally:
        cap.release()
    return frames


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def push_range(recorder: ClipRecorder, frames: list[np.ndarray], first: int, stop: int, step: int = 1) -> None:
    """Push source frames [first, stop) with their timestamps at 10 fps, from an executor thread."""

    def push_all() -> None:
        for i in range(first, stop, step):
            recorder.push(frames[i], at(i / SOURCE_FPS))

    await asyncio.get_running_loop().run_in_executor(None, push_all)


def read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert cap.isOpened(), path
    frames: list[np.ndarray] = []
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames, fps


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(cv2.absdiff(a, b)))


async def test_clip_has_pre_roll_and_post_roll(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    recorder = ClipRecorder("gate", tmp_path / "clips", ClipConfig(pre_s=2, post_s=3, fps=5, max_width=None))
    try:
        await push_range(recorder, vtest_frames, 0, 31)  # 0.0 .. 3.0 s
        path = await recorder.start("evt-42", at(3.0))
        assert not path.exists()  # still recording
        await push_range(recorder, vtest_frames, 31, 70)  # past the end at 6.0 s: the clip closes
    finally:
        await recorder.close()

    assert path == tmp_path / "clips" / "gate" / "20250601T120003.000Z-evt-42.mp4"
    frames, fps = read_clip(path)
    # Frame times 1.0 s (pre-roll) .. 6.0 s at 5 fps: 26 frames.
    assert abs(len(frames) - 26) <= 1
    assert fps == pytest.approx(5.0)
    assert frames[0].shape == (576, 768, 3)
    # The content is the video's: the first clip frame is source frame 10 (1.0 s), not frame 60.
    assert mean_abs_diff(frames[0], vtest_frames[10]) < mean_abs_diff(frames[0], vtest_frames[60])
    assert mean_abs_diff(frames[-1], vtest_frames[60]) < mean_abs_diff(frames[-1], vtest_frames[10])
    assert recorder.clips_written == 1
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


async def test_slow_pushes_still_play_in_real_time(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    # A pipeline sampling at 2 fps feeds a 5 fps clip: frames are repeated across the gaps.
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=2, post_s=3, fps=5, max_width=384))
    try:
        await push_range(recorder, vtest_frames, 0, 31, step=5)
        path = await recorder.start("slow", at(3.0))
        await push_range(recorder, vtest_frames, 35, 70, step=5)
    finally:
        await recorder.close()

    frames, _ = read_clip(path)
    assert abs(len(frames) - 26) <= 1
    assert frames[0].shape == (288, 384, 3)  # the configured downscale keeps the aspect ratio


async def test_an_event_during_a_clip_extends_it(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=1, post_s=2, fps=5, max_width=None))
    try:
        await push_range(recorder, vtest_frames, 0, 21)
        first = await recorder.start("a", at(2.0))
        await push_range(recorder, vtest_frames, 21, 31)
        second = await recorder.start("b", at(3.0))
        await push_range(recorder, vtest_frames, 31, 80)
    finally:
        await recorder.close()

    assert second == first
    frames, _ = read_clip(first)
    assert abs(len(frames) - 21) <= 1  # 1.0 s .. 5.0 s at 5 fps
    assert recorder.clips_written == 1


async def test_ring_buffer_is_bounded(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    cap_bytes = 200 * 1024
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=5, fps=10, max_width=None, max_buffer_bytes=cap_bytes))
    await push_range(recorder, vtest_frames, 0, 100)
    frames, size = recorder.buffered
    assert 1 <= frames < 50  # 5 s at 10 fps would be 51 frames; the byte cap bites first
    assert size <= cap_bytes

    by_age = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=2, fps=5, max_width=None))
    await push_range(by_age, vtest_frames, 0, 100)
    assert by_age.buffered[0] == 11  # 7.8 .. 9.8 s at 5 fps


async def test_a_stalled_camera_closes_the_clip(
    tmp_path: Path, vtest_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clips_module, "STALL_GRACE_S", 0.2)
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=1, post_s=0.3, fps=5, max_width=None))
    try:
        await push_range(recorder, vtest_frames, 0, 11)
        path = await recorder.start("stall", at(1.0))
        # No more frames arrive: the watchdog closes the clip with what it has.
        await eventually(lambda: path.exists(), timeout_s=5.0)
    finally:
        await recorder.close()

    frames, _ = read_clip(path)
    assert abs(len(frames) - 6) <= 1  # the pre-roll: 0.0 .. 1.0 s


async def test_close_saves_an_open_clip(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=1, post_s=30, fps=5, max_width=None))
    await push_range(recorder, vtest_frames, 0, 11)
    path = await recorder.start("shutdown", at(1.0))
    await push_range(recorder, vtest_frames, 11, 21)

    await recorder.close()

    frames, _ = read_clip(path)
    assert abs(len(frames) - 11) <= 1  # 0.0 .. 2.0 s


async def test_an_unwritable_folder_raises_clip_error(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    recorder = ClipRecorder("gate", blocker, ClipConfig(pre_s=1, post_s=1, fps=5))
    await push_range(recorder, vtest_frames, 0, 11)

    with pytest.raises(ClipError, match="cannot write clip"):
        await recorder.start("evt", at(1.0))
    await recorder.close()

    assert recorder.clips_failed == 1
    # The failure is contained: the ring buffer is intact for the next event.
    assert recorder.buffered[0] > 0


async def test_event_ids_are_made_safe_for_file_names(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    recorder = ClipRecorder("gate", tmp_path, ClipConfig(pre_s=0, post_s=0.2, fps=5))
    await push_range(recorder, vtest_frames, 0, 1)
    path = await recorder.start("../../etc/passwd x", at(0.0))
    await push_range(recorder, vtest_frames, 1, 10)
    await recorder.close()

    assert path.parent == tmp_path / "gate"
    assert path.name == "20250601T120000.000Z-_etc_passwd_x.mp4"
    assert path.is_file()


async def test_a_saved_clip_is_handed_on_for_upload(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    saved: list[tuple[Path, bool]] = []
    recorder = ClipRecorder(
        "gate",
        tmp_path / "clips",
        ClipConfig(pre_s=1, post_s=1, fps=5, max_width=None),
        on_saved=lambda p: saved.append((p, p.exists())),
    )
    try:
        await push_range(recorder, vtest_frames, 0, 11)
        path = await recorder.start("evt-7", at(1.0))
        assert saved == []  # not while it is being written
        await push_range(recorder, vtest_frames, 11, 40)
        await eventually(lambda: saved)
    finally:
        await recorder.close()

    assert saved == [(path, True)]  # once, with the final name, the file complete on disk
