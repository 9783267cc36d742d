"""The console shows the box's software version (the same one /metrics and every sync batch carry)."""

from __future__ import annotations

import html

import httpx

from observability.version import software_version
from tests.edge.console import console_headers


async def test_status_and_dashboard_show_the_software_version(edge_app) -> None:
    version = software_version()
    assert version != "unknown"  # the dev install is an installed package
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        await console_headers(client)  # logs in
        status = await client.get("/api/v1/status")
        assert status.status_code == 200, status.text
        assert status.json()["software_version"] == version
        page = (await client.get("/")).text
    shown = f'<dd id="software-version">{html.escape(version)}</dd>'
    assert shown in page
