"""A camera without a usable detector model: `--check-config` refuses the config, and at run time only that
detection is disabled (with an alarm); the doors keep working. Real SQLite, broker, devices and HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from firmware_adapters.simulated import SimulatedDeviceConfig, SimulatedLock
from tests.edge.console import console_login
from tests.edge.site import DEVICE_PASSWORDS, site_config_dict
from tests.polling import eventually


def camera_site(data_dir: Path, video: Path, model: Path) -> dict[str, Any]:
    camera = {"id": "plaza", "name": "Plaza", "zone": "lobby", "source": str(video), "fps": 2}
    return site_config_dict(data_dir, cameras=[camera], vision={"detector": {"model_path": str(model)}})


def check_config(path: Path, data: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path.write_text(tomli_w.dumps(data))
    command = [sys.executable, "-m", "edge.cli", "--config", str(path), "--check-config"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_check_config_refuses_a_camera_without_a_model(tmp_path: Path, vtest_path: Path, nanodet_path: Path) -> None:
    missing = tmp_path / "models" / "nanodet-coco-416.onnx"
    failed = check_config(tmp_path / "edge.toml", camera_site(tmp_path / "d", vtest_path, missing))
    assert failed.returncode == 2, failed.stdout
    assert f"vision.detector.model_path: detector model file {missing} does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    unusable = check_config(tmp_path / "edge.toml", camera_site(tmp_path / "d", vtest_path, broken))
    assert unusable.returncode == 2 and "vision.detector.model_path: " in unusable.stderr

    ok = check_config(tmp_path / "edge.toml", camera_site(tmp_path / "d", vtest_path, nanodet_path))
    assert ok.returncode == 0, ok.stderr
    assert "1 cameras" in ok.stdout


async def test_a_missing_model_disables_detection_with_an_alarm_and_doors_still_work(
    tmp_path: Path, vtest_path: Path
) -> None:
    missing = tmp_path / "models" / "nanodet-coco-416.onnx"
    config = EdgeConfig.model_validate(camera_site(tmp_path / "edge", vtest_path, missing))
    runner = EdgeRunner(config)
    await runner.start()  # before the fix: ModelNotFoundError, and the whole box (doors included) exits
    lock = SimulatedLock(
        SimulatedDeviceConfig(device_id="lock-front", password=DEVICE_PASSWORDS["lock-front"], port=runner.mqtt_port)
    )
    try:
        await lock.start()
        door = runner.app[keys.SITE_STATE].doors["front"]
        await eventually(lambda: door.status == "locked")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as client:
            csrf = await console_login(client)
            sent = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": csrf})
            assert sent.status_code == 202
            assert (await asyncio.wait_for(lock.commands.get(), 5)).action == "unlock"

            alarms = (await client.get("/api/v1/alarms")).json()
            assert [(a["door"], a["alarm"], a["state"]) for a in alarms] == [
                ("plaza", "detector_unavailable", "active_unacknowledged")
            ]
            assert str(missing) in alarms[0]["detail"]
            camera = (await client.get("/api/v1/status")).json()["cameras"]["plaza"]
            assert camera["state"] == "detection_disabled"
            assert "outpost-provision model build-default" in camera["last_error"]
    finally:
        await lock.stop()
        await runner.stop()
