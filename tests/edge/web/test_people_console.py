"""Console people pages over real HTTP on a started edge: add, search, edit, badges, enrolment by tap on the real
broker, visitor badges, CSV import with a preview, HQ/local marks, roles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from edge import keys
from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.schema import people, person_access, person_levels
from edge.web.auth import CONSOLE_AUTH
from tests.edge.console import console_login
from tests.edge.site import site_config_dict

LEVELS = {"staff": {"doors": ["front"]}, "night": {"doors": ["*"]}}


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The small test site with two access levels."""
    return EdgeConfig.model_validate(site_config_dict(tmp_path / "edge", access={"levels": LEVELS}))


@pytest.fixture
async def admin(edge_app: EdgeRunner) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An HTTP client logged in as admin, with its CSRF token."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as client:
        yield client, await console_login(client)


async def _people(edge_app: EdgeRunner) -> dict[str, int]:
    async with edge_app.app[keys.DATABASE].engine.connect() as conn:
        return {r.name: r.id for r in (await conn.execute(select(people.c.name, people.c.id))).all()}


async def _audit_types(edge_app: EdgeRunner) -> list[str]:
    return [str(e.payload.get("type")) for e in await edge_app.app[keys.JOURNAL].recent(50, "audit")]


async def test_add_search_and_edit_a_person(edge_app, admin) -> None:
    client, csrf = admin
    form = {
        "csrf_token": csrf,
        "name": "Ada Lovelace",
        "badges": "123:4567; 04:a1:b2",
        "levels": "staff",
        "valid_until": "2030-01-31T18:00",
        "pin": "2468",
        "role": "",
    }
    response = await client.post("/people", data=form)
    assert response.status_code == 303, response.text
    person_id = (await _people(edge_app))["Ada Lovelace"]
    assert response.headers["location"] == f"/people/{person_id}?done=added"
    page = (await client.get(f"/people/{person_id}")).text
    assert "123:4567" in page and "04A1B2" in page
    assert "PIN (none set)" not in page and "New PIN (a PIN is set)" in page
    record = edge_app.app[keys.ACCESS].credential_index.get("123:4567")
    assert record is not None and record.levels == {"staff"}
    # the person's validity, given in the site's time zone (Europe/Berlin: UTC+1 in January)
    assert record.person_valid_until == datetime(2030, 1, 31, 17, 0, tzinfo=UTC)
    assert 'value="2030-01-31T18:00"' in page  # shown back in site time on the person form

    await client.post("/people", data={**form, "name": "Grace Hopper", "badges": "555", "levels": ""})
    found = (await client.get("/people", params={"q": "4567"})).text
    assert "Ada Lovelace" in found and "Grace Hopper" not in found
    found = (await client.get("/people", params={"q": "grace"})).text
    assert "Grace Hopper" in found and "Ada Lovelace" not in found
    assert "Nobody matches" in (await client.get("/people", params={"q": "%_nobody"})).text

    edit = {
        "csrf_token": csrf,
        "name": "Ada King",
        "levels": ["staff", "night"],
        "valid_from": "",
        "valid_until": "2031-06-01T08:00",
        "role": "",
        "pin": "",
        "clear_pin": "on",
    }  # active unchecked: suspended
    response = await client.post(f"/people/{person_id}", data=edit)
    assert response.status_code == 303, response.text
    detail = await edge_app.app[keys.CREDENTIALS].get_person(person_id)
    assert detail["name"] == "Ada King" and detail["active"] is False and detail["has_pin"] is False
    assert detail["levels"] == ["night", "staff"]
    assert detail["valid_until"] == "2031-06-01T06:00:00+00:00"
    assert "suspended" in (await client.get(f"/people/{person_id}")).text
    assert {"person_added", "person_changed"} <= set(await _audit_types(edge_app))


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(edge_app, admin) -> None:
    client, csrf = admin
    cases = [
        ({"name": "", "badges": "1"}, 400, "error-name"),
        ({"name": "X", "pin": "12"}, 400, "error-pin"),
        ({"name": "X", "levels": "nope"}, 422, "unknown access level"),
        ({"name": "X", "valid_from": "2030-01-02T00:00", "valid_until": "2030-01-01T00:00"}, 400, "must be after"),
        ({"name": "X", "valid_until": "not a date"}, 400, "error-valid_until"),
    ]
    for fields, status, marker in cases:
        response = await client.post("/people", data={"csrf_token": csrf, **fields})
        assert response.status_code == status, (fields, response.text)
        assert marker in response.text
    assert await _people(edge_app) == {}
    # a badge that belongs to someone else: 409, the first holder keeps it
    await client.post("/people", data={"csrf_token": csrf, "name": "First", "badges": "77"})
    response = await client.post("/people", data={"csrf_token": csrf, "name": "Second", "badges": "77"})
    assert response.status_code == 409
    assert list(await _people(edge_app)) == ["First"]
    person_id = (await _people(edge_app))["First"]
    response = await client.post(f"/people/{person_id}/badges", data={"csrf_token": csrf, "number": "\x01"})
    assert response.status_code == 400
    response = await client.post("/people/999/badges", data={"csrf_token": csrf, "number": "1"})
    assert response.status_code == 404
    response = await client.post(f"/people/{person_id}/enrol", data={"csrf_token": csrf, "reader": "lock-front"})
    assert response.status_code == 422
    # without the CSRF token nothing happens
    response = await client.post("/people", data={"name": "Mallory"})
    assert response.status_code == 403
    assert list(await _people(edge_app)) == ["First"]


async def test_enrol_by_tap_at_a_real_reader_then_the_badge_opens_the_door(edge_app, admin, devices) -> None:
    client, csrf = admin
    lock = await devices("lock-front", "lock")
    reader = await devices("reader-front", "reader")
    await client.post("/people", data={"csrf_token": csrf, "name": "Tap Person", "levels": "staff"})
    person_id = (await _people(edge_app))["Tap Person"]
    response = await client.post(
        f"/people/{person_id}/enrol", data={"csrf_token": csrf, "reader": "reader-front", "seconds": "30"}
    )
    assert response.status_code == 303
    assert "Tap the card now" in (await client.get(f"/people/{person_id}")).text
    waiting = asyncio.ensure_future(client.get(f"/people/{person_id}/enrolment", params={"wait": "1"}))

    tap = await reader.present("ca:fe:01")
    assert await reader.wait_receipt(tap.id)
    settled = (await waiting).json()
    assert settled["state"] == "enrolled" and settled["credential"] == "CAFE01"
    decision = await edge_app.app[keys.JOURNAL].recent(10, "audit")
    taps = [e for e in decision if e.payload.get("type") == "access_decision"]
    assert taps[0].payload["granted"] is False and taps[0].payload["enrolment_for"] == person_id
    assert "Badge CAFE01 enrolled by tap" in (await client.get(f"/people/{person_id}")).text
    assert "enrolled by tap" not in (await client.get(f"/people/{person_id}")).text  # shown once

    badge = await reader.present("ca:fe:01")  # the enrolled card now opens the door
    assert await reader.wait_receipt(badge.id)
    command = await asyncio.wait_for(lock.commands.get(), 5)
    assert command.action == "unlock"

    # the enrolment is used up: another unknown card at that reader is only denied
    stray = await reader.present("0xBEEF")
    assert await reader.wait_receipt(stray.id)
    assert edge_app.app[keys.ACCESS].credential_index.get("0xBEEF") is None
    assert "credential_added" in await _audit_types(edge_app)


async def test_enrolment_window_ends_and_a_known_card_never_enrols(edge_app, admin, devices) -> None:
    client, csrf = admin
    reader = await devices("reader-front", "reader")
    await client.post("/people", data={"csrf_token": csrf, "name": "Holder", "badges": "42"})
    await client.post("/people", data={"csrf_token": csrf, "name": "Newcomer"})
    ids = await _people(edge_app)
    await client.post(
        f"/people/{ids['Newcomer']}/enrol", data={"csrf_token": csrf, "reader": "reader-front", "seconds": "30"}
    )
    known = await reader.present("42")  # someone's badge: decided as theirs, not enrolled
    assert await reader.wait_receipt(known.id)
    assert (await client.get(f"/people/{ids['Newcomer']}/enrolment")).json()["state"] == "waiting"
    await client.post(f"/people/{ids['Newcomer']}/enrol/cancel", data={"csrf_token": csrf})
    assert (await client.get(f"/people/{ids['Newcomer']}/enrolment")).json()["state"] == "cancelled"
    after = await reader.present("43")
    assert await reader.wait_receipt(after.id)
    assert edge_app.app[keys.ACCESS].credential_index.get("43") is None
    # an armed reader whose window passed does not enrol (the desk's clock is moved past it)
    desk = edge_app.app[keys.ACCESS].enrolments
    enrolment = desk.arm("reader-front", ids["Newcomer"], "admin", 5)
    assert desk.claim("reader-front", enrolment.expires_at + timedelta(seconds=1)) is None
    assert enrolment.state == "expired"


async def test_visitor_badge_expires(edge_app, admin, devices) -> None:
    client, csrf = admin
    reader = await devices("reader-front", "reader")
    before = datetime.now(UTC)
    response = await client.post(
        "/people/visitors",
        data={
            "csrf_token": csrf,
            "name": "Vera Visitor",
            "host": "Ada",
            "badge": "9001",
            "hours": "2",
            "levels": "staff",
        },
    )
    assert response.status_code == 303, response.text
    record = edge_app.app[keys.ACCESS].credential_index.get("9001")
    assert record is not None and record.role == "visitor" and record.levels == {"staff"}
    assert record.person_valid_until is not None
    assert before + timedelta(hours=2) <= record.person_valid_until <= datetime.now(UTC) + timedelta(hours=2)
    listing = (await client.get("/people")).text
    assert "Vera Visitor (visiting Ada)" in listing and "tag-visitor" in listing
    # once past its end the badge shows (and is decided) as expired
    async with edge_app.app[keys.DATABASE].engine.begin() as conn:
        await conn.execute(update(person_access).values(valid_until=before - timedelta(minutes=1)))
    await edge_app.app[keys.CREDENTIALS].changed()
    assert "pstatus-expired" in (await client.get("/people")).text
    late = await reader.present("9001")
    assert await reader.wait_receipt(late.id)
    decision = (await edge_app.app[keys.JOURNAL].recent(1, "audit"))[0].payload
    assert (decision["person"], decision["granted"], decision["reason"]) == (record.person_name, False, "expired")
    bad = await client.post("/people/visitors", data={"csrf_token": csrf, "name": "V", "badge": "1", "hours": "0"})
    assert bad.status_code == 400 and "error-visitor_hours" in bad.text


CSV = (
    "name,badges,levels,valid_until,pin\n"
    "Alan Turing,100:1,staff,2030-05-01 12:00,1234\n"
    "Bad Level,100:2,nope,,\n"
    "Dup Badge,100:1,,,\n"
    ",100:3,,,\n"
    "Barbara Liskov,100:4;100:5,staff;night,,\n"
)


async def test_csv_import_previews_then_writes_the_good_rows(edge_app, admin) -> None:
    client, csrf = admin
    preview = await client.post("/people/import", data={"csrf_token": csrf, "csv": CSV})
    assert preview.status_code == 200, preview.text
    assert "Nothing is written yet: 2 rows are ready, 3 rows have errors" in preview.text
    assert "unknown access level(s): nope" in preview.text
    assert "badge 100:1 is also on line 2" in preview.text
    assert await _people(edge_app) == {}  # the preview wrote nothing

    await client.post("/people", data={"csrf_token": csrf, "name": "Early", "badges": "100:4"})  # taken meanwhile
    done = await client.post("/people/import/confirm", data={"csrf_token": csrf, "csv": CSV})
    assert done.status_code == 200
    assert "1 person imported; 4 rows refused" in done.text
    assert "badge 100:4 is enrolled already" in done.text
    names = await _people(edge_app)
    assert set(names) == {"Early", "Alan Turing"}
    record = edge_app.app[keys.ACCESS].credential_index.get("100:1")
    assert record is not None and record.person_name == "Alan Turing" and record.pin_hash
    async with edge_app.app[keys.DATABASE].engine.connect() as conn:
        levels = (await conn.execute(select(person_levels.c.level_id))).scalars().all()
    assert levels == ["staff"]
    audit = await edge_app.app[keys.JOURNAL].recent(20, "audit")
    imported = [e for e in audit if e.payload["type"] == "people_imported"]
    assert imported[0].payload["written"] == 1 and imported[0].payload["refused"] == 4


async def test_csv_import_refuses_unreadable_files(edge_app, admin) -> None:
    client, csrf = admin
    for text, marker in [
        ("", "no CSV given"),
        ("who,badges\nx,1\n", "including"),
        ("name,shoe_size\nx,44\n", "unknown column(s): shoe_size"),
    ]:
        response = await client.post("/people/import", data={"csrf_token": csrf, "csv": text})
        assert response.status_code == 400 and marker in response.text
    files = {"file": ("people.csv", b"name,badges\nUpload Person,5\n", "text/csv")}
    response = await client.post("/people/import", data={"csrf_token": csrf}, files=files)  # multipart: CSRF field
    assert response.status_code == 200 and "1 row is ready" in response.text
    files = {"file": ("people.csv", b"name\n\xff\xfe\n", "text/csv")}
    response = await client.post("/people/import", data={"csrf_token": csrf}, files=files)
    assert response.status_code == 400 and "not UTF-8" in response.text


async def test_hq_managed_people_show_hq_and_local_changes(edge_app, admin) -> None:
    client, csrf = admin
    await client.post("/people", data={"csrf_token": csrf, "name": "From HQ", "badges": "808"})
    person_id = (await _people(edge_app))["From HQ"]
    async with edge_app.app[keys.DATABASE].engine.begin() as conn:  # as HQ's document enrols a person
        await conn.execute(update(person_access).values(external_id="hq-17"))
        if not (await conn.execute(select(person_access.c.person_id))).first():
            await conn.execute(person_access.insert().values(person_id=person_id, external_id="hq-17"))
    page = (await client.get(f"/people/{person_id}")).text
    assert "HQ manages this person (id hq-17)" in page and "tag-local" not in page
    await client.post(f"/people/{person_id}/badges/revoke", data={"csrf_token": csrf, "number": "808"})
    listing = (await client.get("/people")).text
    assert "tag-hq" in listing and "local change" in listing
    page = (await client.get(f"/people/{person_id}")).text
    assert "badge(s) 808 revoked here" in page
    edits = [e for e in await edge_app.app[keys.JOURNAL].recent(20) if e.kind == "config_edit"]
    assert edits and edits[0].payload["person"]["id"] == "hq-17"


async def test_viewers_read_and_admins_change(edge_app, admin) -> None:
    await edge_app.app[CONSOLE_AUTH].create_user("victor", "viewer-password-1", "viewer")
    client, csrf = admin
    await client.post("/people", data={"csrf_token": csrf, "name": "Seen", "badges": "31"})
    person_id = (await _people(edge_app))["Seen"]
    async with httpx.AsyncClient(base_url=str(client.base_url)) as viewer:
        token = await console_login(viewer, "viewer-password-1", "victor")
        listing = await viewer.get("/people")
        assert listing.status_code == 200 and "Seen" in listing.text and "Add a person" not in listing.text
        page = await viewer.get(f"/people/{person_id}")
        assert page.status_code == 200 and 'id="person-form"' not in page.text
        assert (await viewer.get("/people/import")).status_code == 403
        for path in ("/people", f"/people/{person_id}", f"/people/{person_id}/badges", "/people/import"):
            response = await viewer.post(path, data={"csrf_token": token, "name": "Nope", "number": "1"})
            assert response.status_code == 403, path
    assert list(await _people(edge_app)) == ["Seen"]
