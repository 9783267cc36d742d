"""The cloud's JSON API under a seeded, time-bounded schemathesis run against its own OpenAPI document: no 5xx,
and every answer whose status the document describes matches it (tests/schemathesis_run.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cloud_helpers import enroll, login, make_tenant

from cloud.app import RunningCloud
from cloud.openapi import OPENAPI_PATH
from tests.schemathesis_run import run_schemathesis

pytestmark = pytest.mark.timeout(420)  # the API grows; a loaded machine is slow (34 s at load 5)


async def test_schemathesis_finds_no_server_error(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    made = await make_tenant(cloud, "Acme")
    await enroll(http, made.code)
    csrf = await login(http, made.admin_email)
    document = (await http.get(OPENAPI_PATH)).json()

    report = await asyncio.to_thread(
        run_schemathesis,
        document,
        base_url=cloud.url.rstrip("/"),
        headers={"X-CSRF-Token": csrf},
        cookies=dict(http.cookies.items()),
        skip={"/api/v1/logout"},  # would end the run's own session
        budget_s=20,
    )

    print(report.statuses)
    assert not report.failures, "\n".join(report.failures)
    assert report.statuses.total() >= 150
    assert sum(n for status, n in report.statuses.items() if status < 300) >= 20  # valid requests got through
