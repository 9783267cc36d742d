"""Time-of-day and absence triggers on the running box (APScheduler on the edge's loop), and a bookmark action
keeping a camera's current frame."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from sync.rules import Rule
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def test_time_trigger_fires_at_the_local_time(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    at = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(seconds=2)).time().replace(microsecond=0)
    rule = {
        "id": "at-time",
        "name": "At a time",
        "trigger": {"type": "time", "at": at.isoformat()},
        "actions": [{"type": "alarm", "op": "raise", "source": "front", "alarm": "timed", "detail": "at {summary}"}],
    }
    await rules.save(Rule.model_validate(rule), by="test")
    runs = await eventually(lambda: rules.history.recent("at-time"), timeout_s=10)
    assert runs[0].outcome == "ran" and runs[0].trigger == "time"


async def test_absence_trigger_fires_after_the_quiet_period(edge_app: EdgeRunner) -> None:
    rules = edge_app.app[keys.RULES]
    journal = edge_app.app[keys.JOURNAL]
    rule = {
        "id": "no-patrol",
        "name": "No patrol",
        "trigger": {"type": "absence", "filter": {"type": "patrol"}, "minutes": 0.02},  # 1.2 s
        "actions": [{"type": "alarm", "op": "raise", "source": "patrol", "alarm": "no_patrol"}],
    }
    await rules.save(Rule.model_validate(rule), by="test")
    first_due = rules.timers.due_at("no-patrol", "absence")
    assert first_due is not None
    await journal.record("event", {"type": "patrol"}, summary="patrol badge")  # re-arms it later
    moved = rules.timers.due_at("no-patrol", "absence")
    assert moved is not None and moved > first_due
    runs = await eventually(lambda: rules.history.recent("no-patrol"), timeout_s=10)
    assert runs[0].outcome == "ran" and runs[0].at >= moved
    alarms = await edge_app.app[keys.ACCESS].supervisor.alarms.open_alarms()
    assert any(a.alarm == "no_patrol" and a.door_id == "patrol" for a in alarms)


async def test_bookmark_keeps_the_current_frame_and_queues_it(tmp_path: Path) -> None:
    config: dict[str, Any] = site_config_dict(tmp_path / "edge")
    config["cameras"] = [{"id": "yard-cam", "name": "Yard", "source": "rtsp://127.0.0.1:9/none", "enabled": False}]
    edge = EdgeRunner(EdgeConfig.model_validate(config))
    await edge.start()
    try:
        folder = edge.config.storage.snapshot_dir / "yard-cam"
        folder.mkdir(parents=True, exist_ok=True)
        frame = np.zeros((48, 64, 3), np.uint8)
        assert cv2.imwrite(str(folder / "latest.jpg"), frame)
        rules = edge.app[keys.RULES]
        rule = {
            "id": "mark",
            "name": "Mark",
            "trigger": {"type": "event", "filter": {"type": "panic_button"}},
            "actions": [{"type": "bookmark", "camera": "yard-cam", "label": "panic: {summary}"}],
        }
        await rules.save(Rule.model_validate(rule), by="test")
        panic = await edge.app[keys.JOURNAL].record("event", {"type": "panic_button"}, summary="panic")
        runs = await eventually(lambda: rules.history.recent("mark"))
        assert runs[0].outcome == "ran", runs[0].detail
        marks = [e for e in await edge.app[keys.JOURNAL].recent(10, "event") if e.payload.get("type") == "bookmark"]
        assert marks and marks[0].payload["label"] == "panic: panic" and marks[0].payload["of_journal_id"] == panic.id
        kept = folder / marks[0].payload["snapshot"]
        assert kept.read_bytes() == (folder / "latest.jpg").read_bytes()
    finally:
        await edge.stop()
