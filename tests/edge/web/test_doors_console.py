"""Doors and schedules pages over real HTTP: week grid edits applied at once, errors by field, roles, HQ-managed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.schema import events, site_config
from edge.web.auth import CONSOLE_AUTH
from tests.edge.console import console_login
from tests.edge.site import site_config_dict
from tests.polling import eventually

GUARD_PW = "guard-password-1"
VIEWER_PW = "viewer-password-1"
OFFICE = {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}]}


def doors_site(data_dir: Path) -> dict[str, Any]:
    """The test site with an office-hours schedule and a holiday calendar."""
    return site_config_dict(
        data_dir,
        schedules={"office": OFFICE},
        holidays={"public": {"name": "Public holidays", "annual": ["12-25"]}},
        access={"levels": {"staff": {"doors": ["*"], "schedule": "office"}}},
    )


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The test site with schedules (overrides the edge conftest's)."""
    return EdgeConfig.model_validate(doors_site(tmp_path / "edge"))


def _office(runner: EdgeRunner) -> Any:
    """The office schedule as the access decisions use it now (through the staff level)."""
    return runner.app[keys.ACCESS].policy.levels["staff"].schedule


def _client(runner: EdgeRunner) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.web_port}", timeout=10)


def _grid(object_id: str, ranges: dict[str, list[tuple[str, str]]], **extra: str) -> dict[str, str]:
    form = {"object_id": object_id, **extra}
    for day, day_ranges in ranges.items():
        for n, (start, end) in enumerate(day_ranges):
            form[f"{day}-start-{n}"] = start
            form[f"{day}-end-{n}"] = end
    return form


async def _audit(runner: EdgeRunner) -> list[dict[str, Any]]:
    async with runner.app[keys.DATABASE].engine.connect() as conn:
        rows = (await conn.execute(select(events.c.payload).where(events.c.kind == "audit"))).scalars().all()
    return [dict(r) for r in rows]


async def test_week_grid_edit_applies_at_once_and_survives_a_restart(edge_config: EdgeConfig) -> None:
    runner = EdgeRunner(edge_config)
    await runner.start()
    try:
        async with _client(runner) as client:
            token = await console_login(client)
            page = await client.get("/schedules/office")
            assert page.status_code == 200
            assert 'value="08:00"' in page.text and 'name="mon-start-0"' in page.text
            # Monday gets a second range, Saturday one that runs past midnight; the rest stays as it was.
            ranges = {d: [("08:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
            ranges["mon"].append(("19:00", "21:00"))
            ranges["sat"] = [("22:00", "02:00")]
            ranges["hol"] = [("10:00", "12:00")]
            form = _grid("office", ranges, csrf_token=token, is_new="0")
            form["holidays"] = "public"
            saved = await client.post("/schedules/save", data=form)
            assert saved.status_code == 303, saved.text
            assert saved.headers["location"].startswith("/doors?saved=schedule+office")

            office = _office(runner)
            # In force at once: a Monday evening (Berlin) is open, a Tuesday evening is not.
            assert office.is_open(datetime(2026, 12, 7, 18, 30, tzinfo=UTC))
            assert not office.is_open(datetime(2026, 12, 8, 18, 30, tzinfo=UTC))
            # Christmas is a holiday of the schedule now: only 10-12 is open.
            assert office.is_open(datetime(2026, 12, 25, 10, 30, tzinfo=UTC))
            assert not office.is_open(datetime(2026, 12, 25, 8, 30, tzinfo=UTC))
            audit = [a for a in await _audit(runner) if a.get("type") == "schedule_changed"]
            assert audit and audit[-1]["by"] == "admin" and audit[-1]["schedule_id"] == "office"
            doors = await client.get("/doors")
            assert 'data-schedule="office"' in doors.text and "edited here" in doors.text
    finally:
        await runner.stop()

    again = EdgeRunner(edge_config)
    await again.start()
    try:
        office = _office(again)
        assert office.is_open(datetime(2026, 12, 7, 18, 30, tzinfo=UTC))  # Monday 19:30 in Berlin
    finally:
        await again.stop()


async def test_bad_ranges_come_back_next_to_the_range_and_change_nothing(edge_app: EdgeRunner) -> None:
    async with _client(edge_app) as client:
        token = await console_login(client)
        form = _grid(
            "office",
            {"mon": [("08:00", "18:00"), ("17:00", "19:00")], "tue": [("25:00", "18:00")], "wed": [("08:00", "")]},
            csrf_token=token,
            is_new="0",
        )
        answer = await client.post("/schedules/save", data=form)
        assert answer.status_code == 422
        assert 'id="error-mon-1"' in answer.text and "overlaps 08:00-18:00" in answer.text
        assert 'id="error-tue-0"' in answer.text and "not a time of day" in answer.text
        assert 'id="error-wed-0"' in answer.text and "both a start and an end" in answer.text
        assert 'value="25:00"' in answer.text  # what was typed stays in the form
        # A new schedule with a bad id or the id of a page.
        for bad_id in ("Office Hours", "new"):
            answer = await client.post(
                "/schedules/save", data=_grid(bad_id, {"mon": [("08:00", "09:00")]}, csrf_token=token, is_new="1")
            )
            assert answer.status_code == 422 and ("pick another id" in answer.text or "lower-case" in answer.text)
    assert not [a for a in await _audit(edge_app) if a.get("type") == "schedule_changed"]
    assert _office(edge_app).is_open(datetime(2026, 12, 8, 8, 30, tzinfo=UTC))


async def test_door_settings_and_mode_by_schedule(edge_app: EdgeRunner, devices) -> None:
    await devices("lock-front", "lock")
    state = edge_app.app[keys.SITE_STATE]
    await eventually(lambda: state.doors["front"].lock_online)
    async with _client(edge_app) as client:
        token = await console_login(client)
        # A new schedule open all week (start == end: the whole day) holds the front door unlocked.
        always = _grid("all-week", {d: [("00:00", "00:00")] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
        answer = await client.post("/schedules/save", data={**always, "csrf_token": token, "is_new": "1"})
        assert answer.status_code == 303, answer.text
        bad = {"csrf_token": token, "unlock_s": "0", "held_open_s": "45", "schedule": "office", "unlock_schedule": ""}
        answer = await client.post("/doors/front/settings", data=bad)
        assert answer.status_code == 422
        assert 'id="error-unlock_s"' in answer.text and "greater than 0" in answer.text
        form = {
            "csrf_token": token,
            "unlock_s": "7",
            "held_open_s": "45",
            "schedule": "office",
            "unlock_schedule": "all-week",
            "two_person": "on",
        }
        answer = await client.post("/doors/front/settings", data=form)
        assert answer.status_code == 303, answer.text
        await eventually(lambda: state.doors["front"].mode == "unlocked (schedule)")
        door = next(d for d in (await edge_app.app[keys.POLICY].view()).effective.doors if d.id == "front")
        assert (door.unlock_s, door.held_open_s, door.schedule, door.two_person) == (7, 45, "office", True)
        audit = [a for a in await _audit(edge_app) if a.get("type") == "door_settings_changed"]
        assert audit[-1]["settings"]["unlock_schedule"] == "all-week"
        # A schedule in use cannot be removed; the reason is shown.
        answer = await client.post("/schedules/all-week/remove", data={"csrf_token": token})
        assert answer.status_code == 409 and "unknown schedule" in answer.text


async def test_roles_on_the_doors_pages(edge_app: EdgeRunner, devices) -> None:
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", GUARD_PW, "guard")
    await auth.create_user("victor", VIEWER_PW, "viewer")
    await devices("lock-front", "lock")
    await eventually(lambda: edge_app.app[keys.SITE_STATE].doors["front"].lock_online)
    form = _grid("office", {"mon": [("07:00", "09:00")]}, is_new="0")
    for user, password in (("gina", GUARD_PW), ("victor", VIEWER_PW)):
        async with _client(edge_app) as client:
            token = await console_login(client, password, user)
            for path in ("/doors", "/doors/front/settings", "/schedules/office", "/holidays/public"):
                page = await client.get(path)
                assert page.status_code == 200, path
                assert "Save" not in page.text and "New schedule" not in page.text
            for path, data in (
                ("/schedules/save", form),
                ("/doors/front/settings", {"unlock_s": "9"}),
                ("/holidays/save", {"object_id": "public", "dates": "2027-01-01"}),
            ):
                refused = await client.post(path, data={**data, "csrf_token": token})
                assert refused.status_code == 403, (user, path)
            unlock = await client.post("/api/v1/doors/front/unlock", headers={"X-CSRF-Token": token})
            assert unlock.status_code == (202 if user == "gina" else 403)
    assert _office(edge_app).is_open(datetime(2026, 12, 7, 9, 30, tzinfo=UTC))


async def test_holidays_edit_with_errors_by_line(edge_app: EdgeRunner) -> None:
    async with _client(edge_app) as client:
        token = await console_login(client)
        base = {"csrf_token": token, "object_id": "public", "is_new": "0", "name": "Public holidays"}
        answer = await client.post("/holidays/save", data={**base, "dates": "2027-01-01\n2027-13-01", "annual": ""})
        assert answer.status_code == 422 and 'id="error-dates"' in answer.text and "line 2" in answer.text
        answer = await client.post("/holidays/save", data={**base, "dates": "2026-12-08", "annual": "12-25"})
        assert answer.status_code == 303
    calendar = (await edge_app.app[keys.POLICY].view()).effective.holidays["public"]
    assert [d.isoformat() for d in calendar.dates] == ["2026-12-08"]


async def test_what_hq_manages_is_shown_and_not_edited_here(edge_app: EdgeRunner) -> None:
    # As if HQ's document v5 had been applied: it sets the office schedule and the front door's unlock time.
    saturday = {"windows": [{"days": ["sat"], "start": "09:00", "end": "12:00"}]}
    policy: dict[str, Any] = {"schedules": {"office": saturday}, "doors": {"front": {"unlock_s": 3}}}
    now = datetime.now(UTC)
    async with edge_app.app[keys.DATABASE].engine.begin() as conn:
        await conn.execute(insert(site_config).values(id=1, version=5, issued_at=now, applied_at=now, policy=policy))
    async with _client(edge_app) as client:
        token = await console_login(client)
        page = await client.get("/schedules/office")
        assert "Managed by HQ (configuration v5)" in page.text and "Save schedule" not in page.text
        form = _grid("office", {"mon": [("07:00", "09:00")]}, csrf_token=token, is_new="0")
        answer = await client.post("/schedules/save", data=form)
        assert answer.status_code == 422 and "managed by HQ" in answer.text
        page = await client.get("/doors/front/settings")
        assert 'id="unlock_s" name="unlock_s" inputmode="decimal" value="3" disabled' in page.text
        # HQ's unlock time is not the console's to store: a posted value is ignored, the rest is saved.
        form = {"csrf_token": token, "unlock_s": "9", "held_open_s": "50", "schedule": "always", "unlock_schedule": ""}
        answer = await client.post("/doors/front/settings", data=form)
        assert answer.status_code == 303, answer.text
    view = await edge_app.app[keys.POLICY].view()
    door = next(d for d in view.effective.doors if d.id == "front")
    assert (door.unlock_s, door.held_open_s) == (3, 50)
    assert view.local.doors["front"].unlock_s is None
