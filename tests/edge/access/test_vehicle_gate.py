"""Vehicle gates: plates rendered onto the parked van of real vtest.avi frames, read by RapidOCR, open the yard
gate through the badge decision (audited `plate_decision`, linked to the frame of the confirming read)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.access.vehicle_gate import VehicleGates
from edge.config import EdgeConfig
from edge.storage.media import MediaQueue
from edge.vision import CameraConfig, CameraPipeline, DetectorConfig, load_detector
from edge.vision.door_snapshots import DoorSnapshots
from edge.vision.frame_ring import FrameRing
from edge.vision.plates import PlateRead, PlateReader, PlateReaderConfig
from tests.edge.access.harness import BERLIN_WEDNESDAY_10H, AccessHarness, HarnessFactory
from tests.edge.access.site_documents import applier, document
from tests.edge.vision.test_plates import VEHICLES, render_plate
from tests.polling import eventually

VAN_PLATE = "KA 05 MX 2417"
NIGHT = BERLIN_WEDNESDAY_10H + timedelta(hours=13)  # 23:00 local: outside office hours


@pytest.fixture(scope="module")
def frames(vtest_path: Path) -> list[np.ndarray]:
    """Frames 100 and 104 of vtest.avi (the van is parked; people walk past)."""
    cap = cv2.VideoCapture(str(vtest_path), cv2.CAP_FFMPEG)
    out: list[np.ndarray] = []
    try:
        for index in range(105):
            ok, frame = cap.read()
            assert ok
            if index in (100, 104):
                out.append(frame)
    finally:
        cap.release()
    return out


@pytest.fixture(scope="module")
def van_box(nanodet_path: Path, frames: list[np.ndarray]) -> tuple[float, float, float, float]:
    """The box NanoDet finds for the parked van near the top right."""
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    vehicles = [d for d in detector.detect(frames[0]) if d.label in VEHICLES]
    van = [d for d in vehicles if 620 < d.x1 < 700 and d.x2 < 732 and d.y2 < 130]
    assert van, f"van not detected: {vehicles}"
    return max(van, key=lambda d: d.score).box


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(min_confidence=0.7))


def gate_site(data: dict[str, Any]) -> None:
    """The yard door is a vehicle gate watched by gate-cam; one van is allowed on the staff level."""
    data["cameras"] = [{"id": "gate-cam", "name": "Gate", "source": "/dev/null", "read_plates": True}]
    yard = next(d for d in data["doors"] if d["id"] == "yard")
    yard.update(camera="gate-cam", vehicle_gate=True)
    data["access"]["vehicles"] = [{"plate": VAN_PLATE, "name": "Van 7", "levels": ["staff"]}]
    data["access"]["plate_gate"] = {"min_confidence": 0.7, "unknown_plate_hours": "office-hours"}


class Gate:
    """The harness plus the gate camera's ring, door snapshots and the vehicle gates."""

    def __init__(self, h: AccessHarness, tmp_path: Path) -> None:
        self.h = h
        self.ring = FrameRing("gate-cam")
        self.snapshots = DoorSnapshots(
            h.journal, MediaQueue(h.db), tmp_path / "snapshots", {"yard": "gate-cam"}, rings={"gate-cam": self.ring}
        )
        self.gates = VehicleGates(h.service, h.config.doors, h.config.access.plate_gate)

    async def see(
        self, reader: PlateReader, frame: np.ndarray, box: tuple[float, float, float, float], text: str, at: datetime
    ) -> list[Any]:
        """The camera samples a frame with `text` on the van at `at`; its plate read goes to the gates."""
        image, _ = render_plate(frame, box, [text])
        self.ring.push(image, at)
        read = reader.read(image, box)
        assert read is not None
        return await self.gates.on_read("gate-cam", read.text, read.confidence, at)

    async def plate_audits(self) -> list[Any]:
        return [e for e in await self.h.journal.recent(50, "audit") if e.payload.get("type") == "plate_decision"]


@pytest.fixture
async def gate(access_harness: HarnessFactory, tmp_path: Path) -> Any:
    async def build(now: datetime = BERLIN_WEDNESDAY_10H, levels: tuple[str, ...] = ("staff",)) -> Gate:
        def tweak(data: dict[str, Any]) -> None:
            gate_site(data)
            data["access"]["vehicles"][0]["levels"] = list(levels)

        h = await access_harness(now=now, tweak=tweak)
        await h.lock_online("lock-yard")
        built = Gate(h, tmp_path)
        built.snapshots.start()
        made.append(built)
        return built

    made: list[Gate] = []
    yield build
    for built in made:
        await built.snapshots.stop()


async def test_an_allowed_plate_on_two_frames_opens_the_gate_with_its_snapshot(
    gate: Any, reader: PlateReader, frames: list[np.ndarray], van_box: tuple[float, float, float, float]
) -> None:
    g: Gate = await gate()
    t0 = BERLIN_WEDNESDAY_10H

    assert await g.see(reader, frames[0], van_box, VAN_PLATE, t0) == []  # one read opens nothing
    assert g.h.locks.actions("lock-yard") == [] and await g.plate_audits() == []

    decisions = await g.see(reader, frames[1], van_box, VAN_PLATE, t0 + timedelta(seconds=0.5))

    assert [d.granted for d in decisions] == [True]
    assert g.h.locks.actions("lock-yard") == [("unlock", 5.0)]
    [audit] = await g.plate_audits()
    assert audit.payload["plate"] == "KA05MX2417" and audit.payload["vehicle"] == "Van 7"
    assert audit.payload["granted"] is True and audit.payload["reason"] == "granted"
    assert audit.payload["level"] == "staff" and audit.payload["reads"] == 2 and audit.payload["confidence"] >= 0.7
    await eventually(lambda: g.snapshots.taken == 1)
    [snap] = [e for e in await g.h.journal.recent(50, "event") if e.payload.get("type") == "door_snapshot"]
    assert snap.payload["of_journal_id"] == audit.id
    assert snap.payload["frame_at"] == (t0 + timedelta(seconds=0.5)).isoformat()  # the confirming read's frame
    # The same van still in view does not open the gate again and again.
    assert await g.see(reader, frames[0], van_box, VAN_PLATE, t0 + timedelta(seconds=1)) == []
    assert await g.see(reader, frames[1], van_box, VAN_PLATE, t0 + timedelta(seconds=1.5)) == []
    assert len(g.h.locks.actions("lock-yard")) == 1


async def test_reads_of_different_plates_do_not_add_up(
    gate: Any, reader: PlateReader, frames: list[np.ndarray], van_box: tuple[float, float, float, float]
) -> None:
    g: Gate = await gate()
    t0 = BERLIN_WEDNESDAY_10H
    assert await g.see(reader, frames[0], van_box, VAN_PLATE, t0) == []
    assert await g.see(reader, frames[1], van_box, "B-XY 1234", t0 + timedelta(seconds=0.5)) == []
    # Too late to pair with the first read (window_s 10): a single read again.
    assert await g.see(reader, frames[1], van_box, VAN_PLATE, t0 + timedelta(seconds=11)) == []
    assert g.h.locks.actions("lock-yard") == []


async def test_an_unknown_plate_is_logged_and_out_of_hours_raises_an_alarm(
    gate: Any, reader: PlateReader, frames: list[np.ndarray], van_box: tuple[float, float, float, float]
) -> None:
    for now, alarmed in ((BERLIN_WEDNESDAY_10H, False), (NIGHT, True)):
        g: Gate = await gate(now)
        await g.see(reader, frames[0], van_box, "B-XY 1234", now)
        [decision] = await g.see(reader, frames[1], van_box, "B-XY 1234", now + timedelta(seconds=0.5))

        assert not decision.granted and decision.reason == "unknown_vehicle"
        [audit] = await g.plate_audits()
        assert audit.payload["plate"] == "BXY1234" and audit.payload["vehicle"] is None
        assert g.h.locks.actions("lock-yard") == []
        expected = [("yard", "unknown_plate", "raised"), ("yard", "unknown_plate", "cleared")] if alarmed else []
        assert [a for a in await g.h.alarms() if a[1] == "unknown_plate"] == expected


@pytest.mark.parametrize("why", ["lockdown", "outside_schedule"])
async def test_lockdown_and_schedules_apply_as_for_badges(
    gate: Any, reader: PlateReader, frames: list[np.ndarray], van_box: tuple[float, float, float, float], why: str
) -> None:
    now = NIGHT if why == "outside_schedule" else BERLIN_WEDNESDAY_10H
    g: Gate = await gate(now)
    if why == "lockdown":
        await g.h.service.set_lockdown(None, True, "guard", "drill")
    await g.see(reader, frames[0], van_box, VAN_PLATE, now)
    [decision] = await g.see(reader, frames[1], van_box, VAN_PLATE, now + timedelta(seconds=0.5))

    assert not decision.granted and decision.reason == why
    assert ("unlock", 5.0) not in g.h.locks.actions("lock-yard")
    [audit] = await g.plate_audits()
    assert audit.payload["reason"] == why and audit.payload["granted"] is False


def test_vehicle_config_is_validated(tmp_path: Path) -> None:
    from tests.edge.access.harness import access_site_dict

    data = access_site_dict(tmp_path)
    gate_site(data)
    config = EdgeConfig.model_validate(data)
    assert config.access.vehicles[0].plate == "KA05MX2417"
    data["access"]["vehicles"].append({"plate": "ka-05 mx 2417"})
    with pytest.raises(ValueError, match="plate listed twice"):
        EdgeConfig.model_validate(data)
    data["access"]["vehicles"] = [{"plate": "AB 12", "levels": ["nope"]}]
    with pytest.raises(ValueError, match="unknown level"):
        EdgeConfig.model_validate(data)
    data["access"]["vehicles"] = []
    data["access"]["plate_gate"] = {"min_reads": 1}
    with pytest.raises(ValueError, match="min_reads"):
        EdgeConfig.model_validate(data)
    data["access"]["plate_gate"] = {}
    next(d for d in data["doors"] if d["id"] == "yard")["camera"] = None
    with pytest.raises(ValueError, match="vehicle_gate needs a camera"):
        EdgeConfig.model_validate(data)


async def test_the_gate_camera_pipeline_opens_the_gate_from_video(
    gate: Any,
    reader: PlateReader,
    vtest_path: Path,
    nanodet_path: Path,
    van_box: tuple[float, float, float, float],
    tmp_path: Path,
) -> None:
    """End to end: a video of the van with its plate, through NanoDet tracking and OCR on every frame."""
    video = tmp_path / "gate.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (768, 576))
    cap = cv2.VideoCapture(str(vtest_path), cv2.CAP_FFMPEG)
    try:
        for index in range(120):
            ok, frame = cap.read()
            assert ok
            if index >= 90:
                writer.write(render_plate(frame, van_box, [VAN_PLATE])[0])
    finally:
        cap.release()
        writer.release()
    g: Gate = await gate(levels=("all",))  # the video's capture times are now: any hour of the day
    reads: list[str] = []

    async def on_plate(camera_id: str, read: PlateRead, at: datetime) -> None:
        reads.append(read.text)
        await g.gates.on_read(camera_id, read.text, read.confidence, at)

    camera = CameraConfig(id="gate-cam", name="Gate", source=str(video), fps=5.0, loop=False, read_plates=True)
    detector = load_detector(DetectorConfig(model_path=nanodet_path))
    pipeline = CameraPipeline(
        camera,
        detector,
        tmp_path / "snap",
        _ignore,
        realtime=False,
        plates=reader,
        on_plate=on_plate,
        frame_sinks=[g.ring],
    )
    await pipeline.start()
    try:
        await eventually(lambda: pipeline.status.state == "stopped", timeout_s=60)
    finally:
        await pipeline.stop()

    assert len(reads) >= 2 and set(reads) == {"KA05MX2417"}
    [audit] = await g.plate_audits()
    assert audit.payload["granted"] is True and audit.payload["reads"] == 2, audit.payload
    assert g.h.locks.actions("lock-yard") == [("unlock", 5.0)]  # once, however many frames read it
    await eventually(lambda: g.snapshots.taken == 1)
    [snap] = [e for e in await g.h.journal.recent(50, "event") if e.payload.get("type") == "door_snapshot"]
    assert snap.payload["of_journal_id"] == audit.id and snap.payload["frame_at"] == audit.occurred_at.isoformat()


async def _ignore(event: Any) -> None:
    """Drop detection events."""


async def test_hq_fleet_register_in_the_site_document_adds_vehicles(access_harness: HarnessFactory) -> None:
    h = await access_harness(tweak=gate_site)
    await h.lock_online("lock-yard")
    now = BERLIN_WEDNESDAY_10H

    async def decide(plate: str) -> str:
        return (await h.service.on_plate("yard", plate, 0.9, 2, now)).reason.value

    assert await decide("HQ1234") == "unknown_vehicle"
    bad = document(1, vehicles=[{"plate": "HQ 1234", "levels": ["nope"]}])
    assert not (await applier(h).apply(bad)).applied

    fleet = [{"plate": "hq-1234", "name": "HQ truck", "levels": ["all"]}]
    assert (await applier(h).apply(document(2, vehicles=fleet))).applied
    assert await decide("HQ1234") == "granted"
    assert await decide("KA05MX2417") == "granted"  # the box's own list stays
    # A document without a fleet register leaves the box's own list only.
    assert (await applier(h).apply(document(3))).applied
    assert await decide("HQ1234") == "unknown_vehicle"
    assert await decide("KA05MX2417") == "granted"
