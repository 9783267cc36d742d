"""Every date a query string of the cloud API takes, at the ends of the calendar (year 1, year 9999): a 2xx or a
clear 4xx, never a 500 (the schemathesis run found `to=0001-01-01` overflowing a default range)."""

from __future__ import annotations

from typing import Any

import httpx
from cloud_helpers import enroll, login, make_tenant

from cloud.app import RunningCloud
from cloud.openapi import OPENAPI_PATH

EXTREMES = ("0001-01-01", "9999-12-31")


def _date_params(operation: dict[str, Any]) -> list[str]:
    return [
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query"
        and p.get("schema", {}).get("format") == "date"
        or p.get("in") == "query"
        and any(s.get("format") == "date" for s in p.get("schema", {}).get("anyOf", []))
    ]


async def test_calendar_ends_in_query_dates_never_500(cloud: RunningCloud, http: httpx.AsyncClient) -> None:
    made = await make_tenant(cloud, "Acme")
    await enroll(http, made.code)
    csrf = await login(http, made.admin_email)
    document = (await http.get(OPENAPI_PATH)).json()
    tried, server_errors = 0, []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for name in _date_params(get):
            for value in EXTREMES:
                for fmt in ("json", "csv"):
                    answer = await http.get(path, params={name: value, "format": fmt}, headers={"X-CSRF-Token": csrf})
                    tried += 1
                    if answer.status_code >= 500:
                        server_errors.append(f"GET {path}?{name}={value}&format={fmt}: {answer.status_code}")

    assert tried >= 8  # the analytics, HR and fleet reads take dates
    assert not server_errors, "\n".join(server_errors)
