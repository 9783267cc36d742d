"""Real RTSP: a GStreamer server (system python3 subprocess) streaming the plaza clip as H.264.

Needs the Debian packages in `APT_PACKAGES`; without them these tests fail (never skip) and say what to
install. Also: a camera that never answers must not stall another camera or the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import CameraConfig, CameraPipeline, CameraSource, DetectionEvent, NanoDetDetector, TrackEvent
from tests.net import free_port
from tests.polling import eventually

from .conftest import read_frames

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
APT_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-tools"
)
READY_TIMEOUT_S = 20.0


class RtspServer:
    """Start, kill and restart the test RTSP server on one port."""

    def __init__(self, frames: Path, log_path: Path) -> None:
        if not Path(SYSTEM_PYTHON).exists():
            pytest.fail(f"{SYSTEM_PYTHON} is missing; the RTSP tests need it with: apt-get install {APT_PACKAGES}")
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/plaza"
        self._frames = frames
        self._log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the server and wait until it listens; fail with the install hint if it cannot run."""
        with self._log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                SYSTEM_PYTHON,
                str(SERVER_SCRIPT),
                "--port",
                str(self.port),
                "--frames",
                str(self._frames),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY"):
            await self.kill()
            detail = self._log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"RTSP test server did not start ({detail.strip()}); it needs: apt-get install {APT_PACKAGES}")

    async def kill(self) -> None:
        """Kill the server abruptly, as a camera losing power would vanish."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture(scope="session")
def rtsp_frames(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the first 10 s of vtest.avi as numbered JPEG files for the server to loop over."""
    folder = tmp_path_factory.mktemp("rtsp-frames")
    for i, frame in enumerate(read_frames(vtest_path, limit=100)):
        assert cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame)
    return folder


@pytest.fixture
async def rtsp_server(rtsp_frames: Path, tmp_path: Path) -> AsyncIterator[RtspServer]:
    """Return a started RTSP server; it is killed after the test."""
    server = RtspServer(rtsp_frames, tmp_path / "rtsp-server.log")
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


def udp_socket_count() -> int:
    """Return how many of this process's open sockets are UDP (RTP over UDP would open some)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    udp = set()
    for table in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            udp.add(line.split()[9])
    return len(inodes & udp)


async def test_reads_frames_over_rtsp_with_tcp_transport(rtsp_server: RtspServer) -> None:
    def read_some() -> tuple[list[np.ndarray], int, str | None]:
        with CameraSource(rtsp_server.url, 5.0, timeout_s=10.0) as source:
            frames = [source.read_sampled() for _ in range(6)]
            return frames, udp_socket_count(), os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")

    started = time.monotonic()
    frames, udp_sockets, options = await asyncio.to_thread(read_some)
    elapsed = time.monotonic() - started

    assert [f.shape for f in frames] == [(576, 768, 3)] * 6
    assert options == "rtsp_transport;tcp"
    assert udp_sockets == 0  # RTP is interleaved on the RTSP TCP connection
    assert elapsed < 15  # 6 frames at 5 fps after connecting: paced, not a burst of buffered frames
    # It is the plaza, decoded: mostly the grey road and green grass, not a test pattern or a blank frame.
    assert 60 < float(frames[-1].mean()) < 200 and float(frames[-1].std()) > 20


async def test_pipeline_reports_a_dead_stream_and_recovers(
    rtsp_server: RtspServer, nanodet: NanoDetDetector, tmp_path: Path
) -> None:
    events: list[TrackEvent] = []

    async def on_track_event(event: TrackEvent) -> None:
        events.append(event)

    async def on_detection(event: DetectionEvent) -> None:
        pass

    camera = CameraConfig(id="gate", name="Gate", source=rtsp_server.url, fps=5.0, timeout_s=3.0)
    pipeline = CameraPipeline(camera, nanodet, tmp_path, on_detection, on_track_event=on_track_event)
    await pipeline.start()
    try:
        await eventually(lambda: pipeline.status.frames_processed >= 10, timeout_s=30)
        assert pipeline.status.state == "running" and pipeline.status.reconnects == 0
        assert any(e.kind == "track_started" and e.category == "person" for e in events)

        await rtsp_server.kill()
        await eventually(lambda: pipeline.status.state.startswith("error:"), timeout_s=20)
        down = pipeline.status
        assert down.reconnects >= 1 and down.last_error and down.retry_at is not None
        # Losing the camera ends its tracks: every started track has its end reported.
        started = {e.track_id for e in events if e.kind == "track_started"}
        assert started == {e.track_id for e in events if e.kind == "track_ended"}
        frames_before = down.frames_processed

        await eventually(lambda: pipeline.status.reconnects > down.reconnects, timeout_s=20)  # down through a retry
        await rtsp_server.start()
        await eventually(
            lambda: pipeline.status.state == "running" and pipeline.status.frames_processed >= frames_before + 10,
            timeout_s=45,
        )
        up = pipeline.status
        assert up.retry_at is None and up.reconnects >= down.reconnects
        assert up.last_error is not None and "rtsp://127.0.0.1" in up.last_error  # the last failure stays visible
    finally:
        await pipeline.stop()
    assert pipeline.status.state == "stopped"


class SilentCamera:
    """An rtsp:// server that accepts connections and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.setblocking(False)
        self._accepted: list[socket.socket] = []
        self.url = f"rtsp://127.0.0.1:{self._sock.getsockname()[1]}/stuck"

    def connected(self) -> bool:
        """True once a client has connected (it now waits for an answer that never comes)."""
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return bool(self._accepted)
        self._accepted.append(conn)  # kept open and silent
        return True

    def close(self) -> None:
        for conn in self._accepted:
            conn.close()
        self._sock.close()


@pytest.fixture
def silent_camera() -> Iterator[SilentCamera]:
    """A camera server that accepts connections and never answers."""
    camera = SilentCamera()
    try:
        yield camera
    finally:
        camera.close()


async def test_a_dead_camera_stalls_neither_other_cameras_nor_the_loop(
    silent_camera: SilentCamera, short_clip: Path, nanodet: NanoDetDetector, tmp_path: Path
) -> None:
    async def ignore(event: DetectionEvent) -> None:
        pass

    lags: list[float] = []

    async def watch_loop() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append(time.monotonic() - started - 0.02)

    stuck_cfg = CameraConfig(id="stuck", name="Stuck", source=silent_camera.url, fps=5.0, timeout_s=3.0)
    file_cfg = CameraConfig(id="plaza", name="Plaza", source=str(short_clip), fps=5.0)
    # One inference worker for both: the stuck camera's blocked open must not hold it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        stuck = CameraPipeline(stuck_cfg, nanodet, tmp_path, ignore, executor, realtime=False)
        plaza = CameraPipeline(file_cfg, nanodet, tmp_path, ignore, executor, realtime=False)
        watcher = asyncio.create_task(watch_loop())
        await stuck.start()
        await eventually(silent_camera.connected, timeout_s=10)  # the stuck camera is now blocked connecting
        await plaza.start()
        try:
            await eventually(lambda: plaza.status.frames_processed >= 60, timeout_s=40)
            assert stuck.status.frames_processed == 0
            assert stuck.status.state == "starting" or stuck.status.state.startswith("error:")
        finally:
            started = time.monotonic()
            await asyncio.gather(stuck.stop(), plaza.stop())
            stop_s = time.monotonic() - started
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    assert stop_s < 5.0
    # A stuck open on the loop would block it for the 3 s connect timeout; honest lag on a loaded box stays below.
    assert max(lags) < 1.5, f"event loop blocked for {max(lags):.2f} s"
