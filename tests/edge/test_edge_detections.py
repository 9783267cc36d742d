"""The edge app runs the camera on the real clip: person detections are journaled with a snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.edge.console import console_login
from tests.edge.site import site_config_dict
from tests.polling import eventually


async def test_camera_detections_reach_journal_and_console(
    tmp_path: Path, vtest_path: Path, nanodet_path: Path
) -> None:
    config = EdgeConfig.model_validate(
        site_config_dict(
            tmp_path / "edge",
            cameras=[
                {
                    "id": "plaza",
                    "name": "Plaza",
                    "zone": "lobby",
                    "source": str(vtest_path),
                    "fps": 5,
                    "record_clips": True,
                    "lines": [{"name": "kerb", "a": [0.0, 0.55], "b": [1.0, 0.55]}],
                }
            ],
            vision={"detector": {"model_path": str(nanodet_path), "threads": 1}},
        )
    )
    runner = EdgeRunner(config)
    await runner.start()
    try:
        journal = runner.app[keys.JOURNAL]

        async def latest_person() -> Any:
            detections = await journal.recent(50, "detection")
            return next(
                (d for d in detections if d.payload.get("kind") == "count" and d.payload.get("category") == "person"),
                None,
            )

        person = await eventually(latest_person, timeout_s=30)
        assert person.payload["count"] >= 1
        assert person.payload["camera_id"] == "plaza"
        assert (config.storage.snapshot_dir / "plaza" / person.payload["snapshot"]).exists()
        assert await runner.app[keys.OUTBOX].pending(100)  # queued for the cloud

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as client:
            await console_login(client)
            jpeg = await client.get("/api/v1/cameras/plaza/snapshot.jpg")
            assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
            frame = cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR)
            assert frame.shape == (576, 768, 3)
            status = (await client.get("/api/v1/status")).json()
            assert status["cameras"]["plaza"]["frames_processed"] > 0
            analytics = (await client.get("/api/v1/cameras/plaza/analytics")).json()
            assert analytics["camera_id"] == "plaza" and "kerb" in analytics["lines"]

        # One walker is one track: a track_started event with its best snapshot and a clip.
        async def track_started() -> Any:
            detections = await journal.recent(50, "detection")
            return next((d for d in detections if d.payload.get("kind") == "track_started"), None)

        started = await eventually(track_started, timeout_s=30)  # TimeoutError: no track_started event
        assert started.payload["category"] in ("person", "vehicle")
        assert started.payload["clip"].endswith(".mp4")
    finally:
        await runner.stop()
