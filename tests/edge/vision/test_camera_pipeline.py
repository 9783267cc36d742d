"""The camera pipeline on the real video and model: events, snapshots, errors, stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision import CameraConfig, CameraPipeline, DetectionEvent, FrameResult, NanoDetDetector, TrackEvent
from edge.vision.pipeline import OnDetection
from tests.polling import eventually

MakePipeline = Callable[..., CameraPipeline]


@pytest.fixture
async def make_pipeline(nanodet: NanoDetDetector, vtest_path: Path, tmp_path: Path) -> AsyncIterator[MakePipeline]:
    """Return a factory of vtest.avi pipelines (not realtime); all are stopped after the test."""
    made: list[CameraPipeline] = []

    def make(on_detection: OnDetection, *, min_interval_s: float = 5.0, **camera: object) -> CameraPipeline:
        cfg = CameraConfig.model_validate(
            {"id": "plaza", "name": "Plaza", "zone": "yard", "source": str(vtest_path), "fps": 5.0, **camera}
        )
        pipeline = CameraPipeline(
            cfg, nanodet, tmp_path / "snapshots", on_detection, min_interval_s=min_interval_s, realtime=False
        )
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.stop()


async def ignore(event: DetectionEvent) -> None:
    """Accept and drop an event."""


def decode_jpeg(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a decodable JPEG"
    return image


async def test_emits_a_person_event_with_a_snapshot(nanodet: NanoDetDetector, vtest_path: Path, tmp_path: Path) -> None:
    events: asyncio.Queue[DetectionEvent] = asyncio.Queue()

    async def on_detection(event: DetectionEvent) -> None:
        await events.put(event)

    camera = CameraConfig(id="plaza", name="Plaza", zone="yard", source=str(vtest_path), fps=5.0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        pipeline = CameraPipeline(camera, nanodet, tmp_path, on_detection, executor, realtime=False)
        await pipeline.start()
        try:
            async with asyncio.timeout(30):
                event = await events.get()
                while event.category != "person":
                    event = await events.get()
            assert pipeline.status.state == "running"
        finally:
            started = time.monotonic()
            await pipeline.stop()
            stop_s = time.monotonic() - started

    assert stop_s < 5.0  # bounded, not waiting out the clip or a read timeout (loose: a loaded 2-core box)
    assert pipeline.status.state == "stopped"
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert (event.camera_id, event.zone, event.category) == ("plaza", "yard", "person")
    assert event.count == len(event.detections) >= 1
    assert {d.label for d in event.detections} == {"person"}
    assert event.occurred_at.utcoffset() is not None
    assert event.snapshot_path is not None and event.snapshot_path.parent == tmp_path / "plaza"
    assert event.snapshot_path.name.endswith("Z-person.jpg")
    assert decode_jpeg(event.snapshot_path).shape == (576, 768, 3)
    assert decode_jpeg(tmp_path / "plaza" / "latest.jpg").shape == (576, 768, 3)
    assert pipeline.status.frames_processed >= 1


async def test_latest_jpg_keeps_updating_without_events(make_pipeline: MakePipeline) -> None:
    # At most one event per category in this test, so later latest.jpg writes come from the 1 s refresh.
    pipeline = make_pipeline(ignore, min_interval_s=3600.0)
    versions: set[int] = set()

    def seen_versions() -> int:
        if pipeline.latest_path.exists():
            versions.add(pipeline.latest_path.stat().st_mtime_ns)
        return len(versions)

    await pipeline.start()
    await eventually(lambda: seen_versions() >= 4, timeout_s=30)

    events = pipeline.status.events_emitted
    assert 1 <= events <= 2
    names = sorted(p.name for p in pipeline.camera_dir.iterdir())
    assert names[-1] == "latest.jpg" and len(names) == 1 + events  # one file per event, no temp files
    assert all(n.endswith(("-person.jpg", "-vehicle.jpg")) for n in names[:-1])


async def test_a_failing_callback_does_not_stop_the_pipeline(make_pipeline: MakePipeline) -> None:
    async def on_detection(event: DetectionEvent) -> None:
        raise RuntimeError("consumer bug")

    pipeline = make_pipeline(on_detection, min_interval_s=0.0)
    await pipeline.start()
    await eventually(lambda: pipeline.status.callback_errors >= 2, timeout_s=30)
    frames = pipeline.status.frames_processed

    await eventually(lambda: pipeline.status.frames_processed > frames + 3, timeout_s=10)
    assert pipeline.status.state == "running"


async def test_a_missing_file_reports_an_error_and_keeps_retrying(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    pipeline = make_pipeline(ignore, source=str(tmp_path / "gone.avi"))

    await pipeline.start()
    await eventually(lambda: pipeline.status.state.startswith("error:"), timeout_s=5)

    assert "gone.avi" in pipeline.status.state
    assert pipeline.status.frames_processed == 0
    await pipeline.stop()
    assert pipeline.status.state == "stopped"


async def test_a_file_without_loop_stops_at_its_end(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(ignore, fps=1.0, loop=False)

    await pipeline.start()
    await eventually(lambda: pipeline.status.state == "stopped", timeout_s=60)

    assert pipeline.status.frames_processed == 80  # 795 frames, every 10th


async def test_track_events_one_pair_per_object_with_best_snapshot_and_analytics(
    nanodet: NanoDetDetector, short_clip: Path, tmp_path: Path
) -> None:
    track_events: list[TrackEvent] = []
    count_events: list[DetectionEvent] = []
    frames: list[FrameResult] = []

    async def on_track_event(event: TrackEvent) -> None:
        track_events.append(event)

    async def on_detection(event: DetectionEvent) -> None:
        count_events.append(event)

    held_raw: list[int] = []  # tracks holding an earlier frame raw (1.3 MB) instead of as JPEG
    held_jpeg: set[int] = set()

    def on_frame(result: FrameResult) -> None:
        frames.append(result)
        for track in result.tracks:
            if isinstance(track.best_image, bytes):
                held_jpeg.add(track.id)
            elif track.best_image is not None and track.best_image is not result.frame.image:
                held_raw.append(track.id)

    camera = CameraConfig.model_validate(
        {
            "id": "plaza",
            "name": "Plaza",
            "zone": "yard",
            "source": str(short_clip),
            "fps": 5.0,
            "loop": False,
            "lines": [{"name": "crossing", "a": (0.5, 0.2), "b": (0.5, 0.8)}],
            "zones": [{"name": "square", "polygon": [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)]}],
        }
    )
    pipeline = CameraPipeline(
        camera,
        nanodet,
        tmp_path,
        on_detection,
        realtime=False,
        on_track_event=on_track_event,
        on_frame=on_frame,
    )
    await pipeline.start()
    try:
        await eventually(lambda: pipeline.status.state == "stopped", timeout_s=90)
    finally:
        await pipeline.stop()

    assert len(frames) == pipeline.status.frames_processed == 100  # 200 frames at 10 fps, every other one
    assert not held_raw and held_jpeg  # best sightings are held as JPEG once their frame is done
    assert pipeline.status.detector_runs < 100  # motion gating skipped some
    started = [e for e in track_events if e.kind == "track_started"]
    ended = [e for e in track_events if e.kind == "track_ended"]
    people = [e for e in started if e.category == "person"]
    assert 5 <= len(people) <= 20  # a dozen people in 20 s; per-frame events would be hundreds
    # Every track that started ends exactly once (the file ended: the rest end with it), after it started.
    assert sorted(e.track_id for e in ended) == sorted(e.track_id for e in started)
    by_id = {e.track_id: e for e in started}
    for event in ended:
        begin = by_id[event.track_id]
        assert event.first_seen_at == begin.first_seen_at and event.last_seen_at >= begin.last_seen_at
        assert event.dwell_s == pytest.approx((event.last_seen_at - event.first_seen_at).total_seconds(), abs=0.05)
        assert (event.camera_id, event.zone, event.label) == ("plaza", "yard", begin.label)
        assert event.snapshot_path is not None and event.snapshot_path.parent == tmp_path / "plaza"
        assert f"-{event.category}-t{event.track_id}.jpg" in event.snapshot_path.name
        assert decode_jpeg(event.snapshot_path).shape == (576, 768, 3)
    assert max(e.dwell_s for e in ended if e.category == "person") >= 10  # someone stayed in view

    crossings = [e for e in track_events if e.kind == "line_crossed"]
    entries = [e for e in track_events if e.kind == "zone_entered"]
    assert crossings and entries
    assert all(e.region == "crossing" and e.direction in ("in", "out") for e in crossings)
    assert all("square" in e.zones_visited for e in entries)
    analytics = pipeline.analytics()
    lines = analytics["lines"]["crossing"]
    assert lines["in"]["person"] + lines["out"]["person"] == len(crossings)
    assert analytics["zones"]["square"] == {"person": 0, "vehicle": 0}  # everyone left when the file ended
    assert analytics["camera_id"] == "plaza" and analytics["frames"] == 100

    # Count events still work, now from confirmed tracks.
    assert count_events and count_events[0].category in ("person", "vehicle")
    assert all(e.count == len(e.detections) for e in count_events)
    assert TrackEvent.model_validate_json(ended[0].model_dump_json()) == ended[0]
    payload = ended[0].payload()
    assert payload["snapshot"] == ended[0].snapshot_path.name and "snapshot_path" not in payload
