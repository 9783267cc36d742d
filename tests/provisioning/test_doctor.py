"""`outpost-provision doctor` on a healthy box (a running edge, enrolled into a real cloud) and on one with
planted faults, each of which it names. Run as the installer runs it: the CLI in a subprocess."""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig
from edge.app import EdgeRunner
from edge.config import load_config
from tests.net import free_port
from tests.provisioning.installer_helpers import provision as _provision


async def _enrolled_box(cloud: RunningCloud, tmp_path: Path) -> Path:
    """An edge config enrolled by `outpost-provision enroll`, with its own data folder and broker port."""
    boot = await bootstrap_tenant(cloud.db, "Acme", "admin@acme.example", "correct-horse-1", site_name="Depot")
    assert boot.enrollment is not None
    config = tmp_path / "etc" / "edge.toml"
    rc, _, err = await _provision(
        "enroll", "--cloud", cloud.url, "--code", boot.enrollment.code, "--config", str(config)
    )
    assert rc == 0, err
    data: dict[str, Any] = tomllib.loads(config.read_text())  # noqa: ASYNC240 - a small file, once
    data["storage"] = {"data_dir": str(tmp_path / "data")}
    data["mqtt"] = {"host": "127.0.0.1", "port": free_port()}
    data["web"] = {"host": "127.0.0.1", "port": 0}
    _write(config, data)
    return config


def _write(config: Path, data: dict[str, Any]) -> None:
    config.write_text(tomli_w.dumps(data))
    config.chmod(0o600)


def _plant_files(data_dir: Path) -> None:
    """A damaged database and a metrics token others can read."""
    data_dir.mkdir(parents=True)
    (data_dir / "edge.db").write_bytes(b"this is not a database" * 200)
    token = data_dir / "metrics-token"
    token.write_text("scrape-token")
    token.chmod(0o644)


async def _doctor(config: Path) -> tuple[int, dict[str, dict[str, str]]]:
    rc, out, err = await _provision("doctor", "--config", str(config), "--json")
    document = json.loads(out)
    assert document["ok"] is (rc == 0), err
    return rc, {check["name"]: check for check in document["checks"]}


async def test_a_healthy_box_passes(tmp_path: Path) -> None:
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        config = await _enrolled_box(cloud, tmp_path)
        edge = EdgeRunner(load_config(config, environ={}))
        await edge.start()  # creates the database; its broker listens on the configured port
        try:
            rc, checks = await _doctor(config)
        finally:
            await edge.stop()
    assert rc == 0, checks
    assert not [c for c in checks.values() if c["status"] == "fail"]
    for name in (
        "config",
        "disk space",
        "secret mode: config",
        "broker port",
        "detector model",
        "database",
        "cloud reachable",
        "cloud credentials",
    ):
        assert checks[name]["status"] == "pass", checks[name]
    # In this container systemd is not PID 1: those checks warn, and say so.
    assert checks["systemd"]["status"] in ("pass", "warn")


async def test_planted_faults_are_each_named(tmp_path: Path) -> None:
    async with started_cloud(CloudConfig(data_dir=tmp_path / "cloud", host="127.0.0.1", port=0)) as cloud:
        config = await _enrolled_box(cloud, tmp_path)
        data: dict[str, Any] = tomllib.loads(config.read_text())  # noqa: ASYNC240 - a small file, once
        data["cloud"]["secret"] = "0" * 64  # not this site's secret
        data["cameras"] = [{"id": "gate", "name": "Gate", "source": str(tmp_path / "no-such-video.mp4")}]
        data["vision"] = {"detector": {"model_path": str(tmp_path / "missing.onnx")}}
        _write(config, data)
        _plant_files(Path(data["storage"]["data_dir"]))
        # Something else holds the broker port without serving MQTT.
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", data["mqtt"]["port"]))
        try:
            rc, checks = await _doctor(config)
            text_rc, text, _err = await _provision("doctor", "--config", str(config))
        finally:
            squatter.close()
    assert rc == 1 and text_rc == 1
    expected = {
        "secret mode: metrics token": "chmod 600",
        "broker port": "change mqtt.port",
        "camera gate": "source",
        "detector model": "model",
        "database": "backup",
        "cloud credentials": "enroll again",
    }
    for name, fix in expected.items():
        assert checks[name]["status"] == "fail", checks[name]
        assert fix in checks[name]["fix"], checks[name]
        assert f"[fail] {name}:" in text
    assert checks["cloud reachable"]["status"] == "pass"
    assert checks["config"]["status"] == "pass"
