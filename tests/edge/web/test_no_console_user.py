"""A box started without `web.initial_admin_password_file` has no console user: it says so, in the log and on the
login page, with the command that creates one (real edge app, HTTP)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.edge.site import site_config_dict


async def test_a_box_without_console_users_says_how_to_create_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = site_config_dict(tmp_path / "edge")
    del data["web"]["initial_admin_password_file"]
    caplog.set_level(logging.WARNING, logger="edge.app")
    runner = EdgeRunner(EdgeConfig.model_validate(data))
    await runner.start()
    try:
        assert any("no console user exists" in r.getMessage() and "add-user" in r.getMessage() for r in caplog.records)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}") as client:
            page = await client.get("/login")
            assert page.status_code == 200
            assert "No console user exists yet" in page.text and "add-user NAME" in page.text
    finally:
        await runner.stop()


async def test_the_hint_is_gone_once_a_user_exists(edge_app) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        page = await client.get("/login")
        assert page.status_code == 200 and "No console user exists yet" not in page.text
