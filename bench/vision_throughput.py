"""Vision throughput: the full camera pipeline vs running the detector on every sampled frame.

    .venv/bin/python -m bench.vision_throughput [--quick | --smoke] [--threads 1] [--model PATH] [--video PATH]

Both sides use the same NanoDet model and the same sampling (5 fps from 10 fps video, so two frames are
decoded per sampled frame), and process as fast as they can (not real time):

- **baseline**: `CameraSource.read_sampled()` then `Detector.detect()` on the full frame, every sampled
  frame, one camera after the other in one thread; no gating, no tracking, no snapshots.
- **pipeline**: the production `CameraPipeline` (capture thread per camera, motion gating, crops,
  tracking, zones/lines, event snapshots and latest.jpg, asyncio callbacks), all cameras of a scene
  concurrently on a 2-worker executor, as the appliance runs them.

Scenes:
- **busy**: vtest.avi as is (79.5 s; `--quick`: its first 20 s, re-encoded as MPEG-4).
- **site mix**: four cameras: the busy one plus three quiet ones built from vtest.avi: the plaza without
  people (the per-pixel median of frames across the clip, plus mild seeded sensor noise) for ~80% of the
  time and a burst of real footage (a different 20% of the clip per camera, at a different moment) for
  the rest, written as MPEG-4 files of the busy clip's length.

CPU is the process's CPU time (`time.process_time()`, all threads) around each run, so frames/s per core
= frames processed / CPU seconds, and cameras per core = that / 5 fps. The same process runs nothing else
meanwhile (decoding the quiet clips' footage and writing them happens before).

Person-event recall (per scene, against the baseline, in media time): the baseline's per-frame
detections are fed offline to the same tracker (`Tracker`, default `TrackingConfig`: a track is
confirmed after 3 detections, matched by IoU/distance, ended after 6 misses). A **baseline person event**
is one confirmed person track: the frames where it was matched, with its box on each. It is **recalled**
when, on at least one of those frames, the pipeline reports a confirmed person track (`FrameResult.tracks`,
its box predicted to the frame's time, see below) with IoU >= 0.3 with the baseline box.
`person_event_recall` is the lower of the two scenes' recalls.

**Frame coverage** (a target: >= 0.90 in both scenes; `frame_coverage` is the lower): of all the frames on which
the baseline tracks a person (every frame of every baseline person event, from its first detection), the share on
which the pipeline has a confirmed person track overlapping that person (IoU >= 0.3). The pipeline track's box on a
frame is its prediction to the frame's time (`Track.predict`): between detector runs tracks coast at constant
velocity, as the live view draws them. Newcomers are reported after `tracking.min_hits` runs, so a late start costs
coverage; `motion.tentative_refresh_s` trades that against CPU.

The site mix is also measured at 50% and 95% quiet (`site_mix_speedup_by_quiet_share`; the baseline's cost per
frame does not depend on content, so its rate is the 80% mix's).

Then **four busy cameras in real time**: four pipelines on vtest.avi paced at 5 fps (realtime=True, looping)
for 30 s (`--quick`: 12 s); it holds when each camera analyses >= 95% of its 5 fps after a 2 s warm-up and
the process uses less than the machine's cores.

`--quick` finishes in one to two minutes on 2 cores; `--smoke` (4 s clips, 4 s real time) only checks that
everything runs and the JSON is complete, its numbers mean nothing.

Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.vision import (
    CameraConfig,
    CameraPipeline,
    CameraSource,
    Detection,
    DetectionEvent,
    Detector,
    DetectorConfig,
    EndOfStream,
    FrameResult,
    Tracker,
    TrackEvent,
    TrackingConfig,
    load_detector,
)
from edge.vision.geometry import Box, iou

FPS = 5.0
RECALL_IOU = 0.3
# Mode -> (clip seconds, None for the whole video; real-time seconds; real-time warm-up seconds).
SIZES: dict[str, tuple[float | None, float, float]] = {
    "full": (None, 30.0, 2.0),
    "quick": (20.0, 12.0, 2.0),
    "smoke": (4.0, 4.0, 1.0),
}
QUIET_SHARE = 0.8  # the site mix's quiet cameras: share of the time without people
QUIET_SHARES = (0.5, 0.8, 0.95)  # shares at which the site-mix speedup is also shown
COVERAGE_TARGET = 0.90
QUIET_BURSTS = (0.1, 0.45, 0.75)  # where each quiet camera's footage burst starts, as a share of the clip
FOOTAGE_FROM = (0.05, 0.4, 0.7)  # where in vtest.avi each burst's footage comes from
NOISE_SIGMA = 2.0
HOLD_SHARE = 0.95
REPO = Path(__file__).resolve().parent.parent
_T0 = time.monotonic()


def progress(message: str) -> None:
    """Print a progress line on stderr."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """Describe what the numbers were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "onnxruntime": metadata.version("onnxruntime"),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


# ---------------------------------------------------------------------------------------------- clips


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Yield every frame of a video."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def write_clip(path: Path, frames: Iterator[np.ndarray], fps: float) -> int:
    """Write frames as an MPEG-4 file; return how many."""
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def build_clips(
    video: Path, workdir: Path, seconds: float | None, quiet_share: float = QUIET_SHARE
) -> tuple[Path, list[Path], float]:
    """Return the busy clip, three quiet clips (people `1 - quiet_share` of the time) and the clip length in s."""
    frames = list(read_frames(video))
    native_fps = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG).get(cv2.CAP_PROP_FPS) or 10.0
    busy = video
    if seconds is not None:
        frames = frames[: int(seconds * native_fps)]
        busy = workdir / "busy.mp4"
        write_clip(busy, iter(frames), native_fps)
    count = len(frames)
    background = np.median(np.stack(frames[:: max(1, count // 50)]), axis=0).astype(np.uint8)
    rng = np.random.default_rng(1234)
    noise = [rng.normal(0, NOISE_SIGMA, background.shape).astype(np.int16) for _ in range(8)]
    all_frames = list(read_frames(video))  # footage may come from anywhere in the full clip
    burst = int(count * (1 - quiet_share))
    quiet: list[Path] = []
    for n, (start_share, source_share) in enumerate(zip(QUIET_BURSTS, FOOTAGE_FROM, strict=True)):
        start = int(count * start_share)
        source = int(len(all_frames) * source_share)

        def clip_frames(start: int = start, source: int = source) -> Iterator[np.ndarray]:
            for i in range(count):
                if start <= i < start + burst:
                    yield all_frames[(source + i - start) % len(all_frames)]
                else:
                    yield np.clip(background.astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)

        path = workdir / f"quiet-{round(quiet_share * 100)}-{n + 1}.mp4"
        write_clip(path, clip_frames(), native_fps)
        quiet.append(path)
    return busy, quiet, count / native_fps


# ------------------------------------------------------------------------------------------- baseline


@dataclass
class CameraRun:
    """Per-frame results of one camera in one mode."""

    name: str
    frames: int = 0
    detector_runs: int = 0
    person_boxes: list[dict[int, Box]] = field(default_factory=list)  # per frame: track id -> box
    detections: list[list[Detection]] = field(default_factory=list)  # baseline only
    track_events: int = 0
    frame_size: tuple[int, int] = (0, 0)  # width, height


def run_baseline(detector: Detector, path: Path) -> CameraRun:
    """Detect on every sampled frame of a file."""
    run = CameraRun(path.stem)
    with CameraSource(str(path), FPS, loop=False) as source:
        while True:
            try:
                image = source.read_sampled()
            except EndOfStream:
                break
            run.detections.append(detector.detect(image))
            run.frame_size = (image.shape[1], image.shape[0])
            run.frames += 1
            run.detector_runs += 1
    return run


def baseline_person_events(run: CameraRun) -> list[dict[int, Box]]:
    """Track the baseline's detections offline; return each confirmed person track's frames and boxes."""
    tracker = Tracker(TrackingConfig())
    events: dict[int, dict[int, Box]] = {}
    pending: dict[int, dict[int, Box]] = {}
    start = datetime.now(UTC)
    for index, dets in enumerate(run.detections):
        now = index / FPS
        update = tracker.update(dets, now, start + timedelta(seconds=now), run.frame_size)
        for track in update.matched:
            if track.category == "person":
                pending.setdefault(track.id, {})[index] = track.box
        for track in tracker.confirmed:
            if track.category == "person" and track.id in pending:
                events[track.id] = pending[track.id]
    return list(events.values())


def recall(baseline_events: list[dict[int, Box]], pipeline: CameraRun) -> tuple[int, int, int, int]:
    """Return (recalled events, events, covered frames, frames) of the baseline's person events.

    A frame of an event is covered when a pipeline person track overlaps it there (IoU >= RECALL_IOU);
    an event is recalled when at least one of its frames is covered.
    """
    recalled = covered = frames = 0
    for event in baseline_events:
        hits = sum(
            index < len(pipeline.person_boxes)
            and any(iou(box, other) >= RECALL_IOU for other in pipeline.person_boxes[index].values())
            for index, box in event.items()
        )
        recalled += hits > 0
        covered += hits
        frames += len(event)
    return recalled, len(baseline_events), covered, frames


# ------------------------------------------------------------------------------------------- pipeline


async def run_pipelines(
    detector: Detector,
    paths: list[Path],
    snapshot_dir: Path,
    *,
    realtime: bool = False,
    seconds: float | None = None,
    warmup_s: float = 0.0,
) -> tuple[list[CameraRun], list[CameraPipeline], dict[str, float]]:
    """Run one pipeline per file concurrently (to the end, or for `seconds` in real time after `warmup_s`)."""
    runs = [CameraRun(p.stem) for p in paths]
    pipelines: list[CameraPipeline] = []

    async def ignore(event: DetectionEvent) -> None:
        pass

    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="vision") as executor:
        for n, (path, run) in enumerate(zip(paths, runs, strict=True)):

            def on_frame(result: FrameResult, run: CameraRun = run) -> None:
                run.frames += 1
                run.detector_runs += result.plan is not None
                # Between detector runs tracks coast at constant velocity (gating.py): where a track is at this
                # frame is its prediction to the frame's time (its last box on a frame the detector ran on).
                now = result.frame.position_s
                run.person_boxes.append({t.id: t.predict(now) for t in result.tracks if t.category == "person"})

            async def on_track_event(event: TrackEvent, run: CameraRun = run) -> None:
                run.track_events += 1

            camera = CameraConfig(id=f"cam{n + 1}", name=path.stem, source=str(path), fps=FPS, loop=realtime)
            pipelines.append(
                CameraPipeline(
                    camera,
                    detector,
                    snapshot_dir,
                    ignore,
                    executor,
                    realtime=realtime,
                    on_track_event=on_track_event,
                    on_frame=on_frame,
                )
            )
        cpu0, wall0 = time.process_time(), time.monotonic()
        for pipeline in pipelines:
            await pipeline.start()
        marks: dict[str, float] = {}
        if seconds is None:
            # The pipelines expose their state, not an event; a bench can afford to poll it.
            while any(p.status.state != "stopped" for p in pipelines):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(warmup_s)
            marks["frames_at_warmup"] = sum(p.status.frames_processed for p in pipelines)
            marks["cpu_at_warmup"] = time.process_time()
            marks["wall_at_warmup"] = time.monotonic()
            await asyncio.sleep(seconds - warmup_s)
            marks["frames_at_end"] = sum(p.status.frames_processed for p in pipelines)
            marks["dropped"] = sum(p.status.frames_dropped for p in pipelines)
        marks["cpu_s"] = time.process_time() - cpu0
        marks["wall_s"] = time.monotonic() - wall0
        marks["cpu_end"] = time.process_time()
        marks["wall_end"] = time.monotonic()
        await asyncio.gather(*(p.stop() for p in pipelines))
    return runs, pipelines, marks


# -------------------------------------------------------------------------------------------- scenes


def summarise(frames: int, cpu_s: float, detector_runs: int) -> dict[str, Any]:
    per_cpu_s = frames / cpu_s
    return {
        "frames": frames,
        "cpu_s": round(cpu_s, 2),
        "frames_per_cpu_s": round(per_cpu_s, 2),
        "cameras_per_core": round(per_cpu_s / FPS, 2),
        "cpu_per_camera": round(FPS / per_cpu_s, 3),  # share of one core a 5 fps camera needs
        "detector_runs": detector_runs,
        "detector_run_share": round(detector_runs / frames, 3),
    }


def scene(
    name: str, detector: Detector, paths: list[Path], workdir: Path, measured: tuple[CameraRun, float]
) -> dict[str, Any]:
    """Measure the baseline and the pipeline on one scene and compare them.

    `measured` is the busy clip's baseline run and its CPU seconds, reused (identical work, this run).
    """
    baseline_runs: list[CameraRun] = []
    cpu_s = 0.0
    for path in paths:
        if path.stem == measured[0].name:
            baseline_runs.append(measured[0])
            cpu_s += measured[1]
            continue
        progress(f"{name}: baseline on {path.name}")
        cpu0 = time.process_time()
        run = run_baseline(detector, path)
        cpu_s += time.process_time() - cpu0
        baseline_runs.append(run)
    baseline = summarise(sum(r.frames for r in baseline_runs), cpu_s, sum(r.detector_runs for r in baseline_runs))

    progress(f"{name}: pipeline on {len(paths)} camera(s)")
    runs, pipelines, marks = asyncio.run(run_pipelines(detector, paths, workdir / f"snapshots-{name}"))
    pipeline = summarise(sum(r.frames for r in runs), marks["cpu_s"], sum(r.detector_runs for r in runs))
    pipeline["wall_s"] = round(marks["wall_s"], 2)
    pipeline["person_tracks"] = sum(p.analyzer.stats.tracks_started["person"] for p in pipelines)
    pipeline["track_events"] = sum(r.track_events for r in runs)

    recalled = total = covered = frames = 0
    for base, run in zip(baseline_runs, runs, strict=True):
        got, count, hit_frames, event_frames = recall(baseline_person_events(base), run)
        recalled += got
        total += count
        covered += hit_frames
        frames += event_frames
    return {
        "cameras": len(paths),
        "baseline": baseline,
        "pipeline": pipeline,
        "speedup": round(pipeline["frames_per_cpu_s"] / baseline["frames_per_cpu_s"], 2),
        "baseline_person_events": total,
        "recalled_person_events": recalled,
        "person_event_recall": round(recalled / total, 3) if total else 1.0,
        # The target: the share of the frames on which the baseline tracks a person where the pipeline has an
        # overlapping person track too.
        "frame_coverage": round(covered / frames, 3) if frames else 1.0,
    }


def quiet_share_speedups(
    detector: Detector, video: Path, workdir: Path, clip_seconds: float | None, mix: dict[str, Any]
) -> dict[str, float]:
    """Return the site-mix speedup at each of QUIET_SHARES (1 busy + 3 quiet cameras).

    The baseline's cost does not depend on the content (every frame runs the same network), so its
    frames per CPU second are the site mix's measured ones; each share's pipeline is measured anew.
    """
    speedups: dict[str, float] = {}
    for share in QUIET_SHARES:
        if share == QUIET_SHARE:
            speedups[str(share)] = mix["speedup"]
            continue
        progress(f"site mix at {share:.0%} quiet: building clips, pipeline")
        busy, quiet, _ = build_clips(video, workdir, clip_seconds, share)
        runs, _, marks = asyncio.run(run_pipelines(detector, [busy, *quiet], workdir / f"snapshots-{share}"))
        per_cpu_s = sum(r.frames for r in runs) / marks["cpu_s"]
        speedups[str(share)] = round(per_cpu_s / mix["baseline"]["frames_per_cpu_s"], 2)
    return speedups


def four_busy_cameras(
    detector: Detector, video: Path, workdir: Path, seconds: float, warmup_s: float
) -> dict[str, Any]:
    """Run four real-time busy cameras and check they keep up."""
    progress(f"four busy cameras in real time for {seconds:.0f} s")
    _, _, marks = asyncio.run(
        run_pipelines(
            detector, [video] * 4, workdir / "snapshots-rt", realtime=True, seconds=seconds, warmup_s=warmup_s
        )
    )
    window = marks["wall_end"] - marks["wall_at_warmup"]
    analysed = marks["frames_at_end"] - marks["frames_at_warmup"]
    fps_per_camera = analysed / window / 4
    cores_used = (marks["cpu_end"] - marks["cpu_at_warmup"]) / window
    cores = os.cpu_count() or 1
    return {
        "seconds": seconds,
        "fps_per_camera": round(fps_per_camera, 2),
        "frames_dropped": int(marks["dropped"]),
        "cpu_cores_used": round(cores_used, 2),
        "holds": fps_per_camera >= HOLD_SHARE * FPS and cores_used < cores,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="first 20 s of the clip, 12 s real time (< 1 min)")
    size.add_argument("--smoke", action="store_true", help="4 s clips: checks it runs, numbers mean nothing")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per inference")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shared NanoDet)")
    parser.add_argument("--video", type=Path, default=REPO.parent / "shared" / "data" / "vtest.avi")
    args = parser.parse_args()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    clip_seconds, realtime_s, warmup_s = SIZES[mode]
    cv2.setNumThreads(1)  # OpenCV's own pool would blur the per-core accounting; frames are small
    # The edge's defaults (thresholds, track floor): what the appliance runs.
    detector = load_detector(DetectorConfig(model_path=args.model, threads=args.threads))
    result: dict[str, Any] = {
        "machine": machine(),
        "command": "python -m bench.vision_throughput" + ("" if mode == "full" else f" --{mode}"),
        "mode": mode,
        "fps": FPS,
        "detector": {"type": detector.type_key, "input_size": detector.input_size, "threads": args.threads},
    }
    with tempfile.TemporaryDirectory(prefix="vision-bench-") as tmp:
        workdir = Path(tmp)
        progress("building clips")
        busy, quiet, clip_s = build_clips(args.video, workdir, clip_seconds)
        result["clip_s"] = round(clip_s, 1)

        progress("busy: baseline")
        cpu0 = time.process_time()
        busy_base = run_baseline(detector, busy)
        measured = (busy_base, time.process_time() - cpu0)
        result["busy"] = scene("busy", detector, [busy], workdir, measured)
        result["site_mix"] = scene("site_mix", detector, [busy, *quiet], workdir, measured)
        result["site_mix_speedup_by_quiet_share"] = quiet_share_speedups(
            detector, args.video, workdir, clip_seconds, result["site_mix"]
        )
        result["four_busy_cameras"] = four_busy_cameras(detector, args.video, workdir, realtime_s, warmup_s)

    busy_s, mix_s = result["busy"], result["site_mix"]
    result["cameras_per_core"] = mix_s["pipeline"]["cameras_per_core"]
    result["baseline_cameras_per_core"] = mix_s["baseline"]["cameras_per_core"]
    result["busy_cameras_per_core"] = busy_s["pipeline"]["cameras_per_core"]
    result["busy_baseline_cameras_per_core"] = busy_s["baseline"]["cameras_per_core"]
    result["person_event_recall"] = min(busy_s["person_event_recall"], mix_s["person_event_recall"])
    result["frame_coverage"] = min(busy_s["frame_coverage"], mix_s["frame_coverage"])
    result["targets"] = {
        "site_mix_3x_baseline": mix_s["speedup"] >= 3.0,
        "busy_1_5x_baseline": busy_s["speedup"] >= 1.5,
        "person_event_recall_0_95": result["person_event_recall"] >= 0.95,
        "frame_coverage_0_90": result["frame_coverage"] >= COVERAGE_TARGET,
        "four_busy_cameras_5fps": result["four_busy_cameras"]["holds"],
    }
    progress(
        f"site mix {mix_s['speedup']}x, busy {busy_s['speedup']}x, recall {result['person_event_recall']}, "
        f"frame coverage {result['frame_coverage']}, by quiet share {result['site_mix_speedup_by_quiet_share']}, "
        f"4 busy cameras hold: {result['four_busy_cameras']['holds']}"
    )
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
