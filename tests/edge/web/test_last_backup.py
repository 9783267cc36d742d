"""The console's System section and GET /api/v1/status show the last `outpost-provision backup` of the box
(the console in the site's time zone, the API in UTC)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from edge.app import EdgeRunner
from provisioning.backup import create_backup
from tests.edge.console import console_headers


async def test_the_console_shows_no_backup_then_the_last_one(edge_app: EdgeRunner, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        await console_headers(client)  # logs in
        assert (await client.get("/api/v1/status")).json()["last_backup"] is None
        page = (await client.get("/")).text
        assert '<dd id="last-backup">none: <code>outpost-provision backup</code>' in page

        config_file = tmp_path / "edge.toml"
        config_file.write_text("")  # noqa: ASYNC240 - a small file
        config_file.chmod(0o600)  # noqa: ASYNC240
        archive = tmp_path / "backups" / "outpost-site-1.tar.gz"
        manifest = await asyncio.to_thread(create_backup, config_file, edge_app.config, archive)

        last = (await client.get("/api/v1/status")).json()["last_backup"]
        assert last == {"at": manifest.created_at.isoformat(), "archive": "outpost-site-1.tar.gz"}
        page = (await client.get("/")).text
    local = manifest.created_at.astimezone(ZoneInfo("Europe/Berlin"))  # the test site's time zone
    shown = f"{local:%Y-%m-%d %H:%M %Z} (outpost-site-1.tar.gz)"
    assert local.strftime("%Z") in ("CET", "CEST")
    assert f'<dd id="last-backup">{shown}</dd>' in page
