"""Helpers of the installer tests: run `outpost-provision`, prepare a box's config, issue an enrollment file,
read printed device settings back, and serve a real RTSP camera."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import tomli_w

from tests.cloud.cloud_helpers import login
from tests.edge.site import site_config_dict
from tests.net import free_port
from tests.paths import REPO, SHARED

VTEST = SHARED / "data" / "vtest.avi"
RTSP_SERVER = REPO / "tests" / "edge" / "vision" / "rtsp_server.py"


async def provision(*args: str, timeout_s: float = 120) -> tuple[int, str, str]:
    """Run `outpost-provision` as the installer would; return (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provisioning.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, out.decode(), err.decode()


def base_edge_config(path: Path, data_dir: Path) -> None:
    """A box's config before enrollment: the test site on free ports, quick sync retries, no cloud."""
    config = site_config_dict(data_dir, cloud={"sync_interval_s": 0.2, "max_backoff_s": 0.5, "config_wait_s": 1})
    config["site"] = {"id": "unenrolled", "name": "New box", "timezone": "UTC"}
    path.write_text(tomli_w.dumps(config))
    path.chmod(0o600)


async def issue_file(cloud_url: str, tenant_email: str, site_name: str, **extra: Any) -> tuple[bytes, str]:
    """Download an enrollment file through the JSON API as a tenant admin; return it and the key fingerprint."""
    async with httpx.AsyncClient(base_url=cloud_url) as http:
        csrf = await login(http, tenant_email)
        response = await http.post(
            "/api/v1/enrollment-files",
            json={"site_name": site_name, "timezone": "Europe/Berlin", **extra},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 201, response.text
        assert response.headers["Content-Disposition"].startswith('attachment; filename="outpost-enrollment-')
        key = (await http.get("/api/v1/enrollment-key")).json()
        return response.content, key["fingerprint"]


def parse_settings(text: str) -> list[dict[str, str]]:
    """Read back the device settings blocks exactly as printed for the installer."""
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("Device "):
            blocks.append({"device": line.split()[1]})
        elif blocks and line.startswith("  ") and ":" in line and not line.startswith("    "):
            key, _, value = line.strip().partition(":")
            blocks[-1][key] = value.strip()
    return blocks


def write_vtest_frames(folder: Path, count: int) -> Path:
    """The first `count` frames of vtest.avi as numbered JPEGs (what the RTSP server loops over)."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(VTEST))
    for i in range(count):
        ok, frame = capture.read()
        assert ok and cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame)
    capture.release()
    return folder


@contextlib.asynccontextmanager
async def rtsp_camera(frames: Path, log_path: Path, *, user: str, password: str, path: str) -> AsyncIterator[str]:
    """A real RTSP server (gst-rtsp-server, system python3) on loopback wanting `user`/`password`; yields host:port."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            "/usr/bin/python3", str(RTSP_SERVER), "--port", str(port), "--frames", str(frames), "--path", path,
            "--user", user, "--password", password, stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"READY"), f"RTSP test server did not start; see {log_path}"
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        await proc.wait()
