"""The composition root: in-process start/stop, the serve command as a real process, API error shapes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cloud_helpers import TenantFixture, enroll, login, make_batch, post_batch, send_batch

from cloud.admin import bootstrap_tenant
from cloud.app import RunningCloud, run_cloud
from cloud.config import CloudConfig
from sync.codec import encode_batch
from tests.net import free_port
from tests.paths import REPO


async def test_run_cloud_reports_its_port_and_stops_on_cancel(cloud_config: CloudConfig) -> None:
    ready: asyncio.Future[RunningCloud] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_cloud(cloud_config, ready))
    try:
        running = await asyncio.wait_for(ready, 30)
        assert running.port != 0
        result = await bootstrap_tenant(running.db, "Demo", "demo@example.com", "demo-password", site_name="HQ")
        async with httpx.AsyncClient(base_url=running.url) as client:
            enrolled = await client.post("/api/v1/enroll", json={"code": result.enrollment.code})  # type: ignore[union-attr]
            assert enrolled.status_code == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=running.url) as client:
            await client.get("/login")


async def test_run_cloud_fails_ready_when_start_up_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    config = CloudConfig(data_dir=blocker / "data", port=0)
    ready: asyncio.Future[RunningCloud] = asyncio.get_running_loop().create_future()

    with pytest.raises(OSError):
        await run_cloud(config, ready)

    assert isinstance(ready.exception(), OSError)


async def test_api_errors_are_error_bodies(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/v1/nothing-here")
    wrong_method = await http.get("/api/v1/enroll")

    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"


def test_serve_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "data"\nport = {port}\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud", "serve", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                time.sleep(0.1)
        else:
            pytest.fail("serve did not start listening")
        assert response.status_code == 200

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, output
    assert "cloud listening on" in output and "stopped" in output
    assert (tmp_path / "data" / "cloud.db").exists()
    assert (tmp_path / "data" / "session_secret").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "data" / "cloud.db-wal").exists() or (tmp_path / "data" / "cloud.db-wal").stat().st_size == 0


async def test_secrets_never_reach_the_log(
    http: httpx.AsyncClient, tenant: TenantFixture, caplog: pytest.LogCaptureFixture
) -> None:
    # Our code and the HTTP server at DEBUG. (aiosqlite logs statement parameters at DEBUG, so
    # `outpost-cloud serve` pins its logger to INFO.)
    caplog.set_level(logging.DEBUG, logger="cloud")
    caplog.set_level(logging.DEBUG, logger="aiohttp")

    enrolled = await enroll(http, tenant.code)
    await send_batch(http, enrolled, make_batch(enrolled.site_id, [1, 2]))
    await post_batch(http, enrolled, encode_batch(make_batch(enrolled.site_id, [3])), secret="11" * 32)
    await http.post("/api/v1/enroll", json={"code": tenant.code})
    csrf = await login(http, tenant.admin_email)
    await http.post("/api/v1/enrollment-codes", json={"site_name": "X"})

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "enrolled site" in logged and "rejected" in logged  # the log did capture these requests
    for secret in (
        enrolled.secret,
        tenant.code,
        tenant.admin_password,
        csrf,
        http.cookies["outpost_session"],
    ):
        assert secret not in logged
