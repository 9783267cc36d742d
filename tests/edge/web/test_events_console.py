"""The events timeline over real HTTP on a started edge: the JSON API's filters and keyset pages (Link header),
the page and its pages, one record's detail, pictures and clip, the streamed CSV, bad filters as 400s, roles."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import httpx
import numpy as np
import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.storage.journal import JournalEntry
from edge.web.auth import CONSOLE_AUTH
from edge.web.event_filters import OPENAPI_PARAMETERS, EventQueryIn
from edge.web.openapi import OPENAPI_PATH
from edge.web.roles import required_role
from tests.edge.console import console_login
from tests.edge.event_history import START, newest_first
from tests.edge.web.events_site import History, events_site_config, seed_site

COUNT = 600
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    return events_site_config(tmp_path / "edge")


@pytest.fixture
async def history(edge_app: EdgeRunner, vtest_path: Path) -> History:
    return await seed_site(edge_app, vtest_path, COUNT)


@pytest.fixture
async def console(edge_app: EdgeRunner) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}", timeout=30) as client:
        await console_login(client)
        yield client


def _listed(entries: list[JournalEntry]) -> list[JournalEntry]:
    return [e for e in entries if e.payload.get("type") != "door_snapshot"]


async def _follow(console: httpx.AsyncClient, url: str) -> list[dict[str, object]]:
    """Every record of an API listing, following the Link header page after page."""
    found: list[dict[str, object]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await console.get(next_url)
        assert response.status_code == 200, response.text
        found += response.json()
        link = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
        next_url = link[1] if link else None
    return found


async def test_api_filters_page_through_the_whole_set(console: httpx.AsyncClient, history: History) -> None:
    written = _listed(history.written)
    dock = await _follow(console, "/api/v1/events?door=dock&kind=audit&limit=40")
    assert [e["id"] for e in dock] == newest_first(
        written, lambda e: e.kind == "audit" and e.payload.get("door_id") == "dock"
    )
    assert all(e["reason_words"] for e in dock)
    assert {e["reason_words"] for e in dock if e["payload"]["reason"] == "outside_schedule"} <= {"outside schedule"}

    # Zone "yard": camera records in the yard and everything at its door, the dock; a month given as site days.
    yard = await _follow(console, "/api/v1/events?zone=yard&from=2026-04-01&to=2026-04-30&limit=500")
    since, until = datetime(2026, 4, 1, tzinfo=BERLIN), datetime(2026, 5, 1, tzinfo=BERLIN)
    assert [e["id"] for e in yard] == newest_first(
        written,
        lambda e: (
            (e.payload.get("zone") == "yard" or e.payload.get("door_id") == "dock") and since <= e.occurred_at < until
        ),
    )
    grace = await _follow(console, "/api/v1/events?person=grace&camera=plaza")
    assert grace == []  # a person is never a camera record
    person = await _follow(console, "/api/v1/events?person_id=2&limit=25")
    assert [e["id"] for e in person] == newest_first(written, lambda e: e.payload.get("person_id") == 2)

    # The badge at the front door carries its door frame (found by record id, not by being on the same page).
    newest = (await console.get("/api/v1/events", params={"door": "front", "kind": "audit", "limit": "1"})).json()
    assert newest[0]["id"] == history.door_record.id
    assert newest[0]["door_frame"]["thumbnail"].endswith(f"door-front-{history.door_record.id}-thumb.jpg")
    assert newest[0]["reason_words"] == "unknown card"


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"kind": "gossip"}, "kind"),
        ({"from": "yesterday"}, "from"),
        ({"to": "0001-01-01T00:00+14:00"}, "to"),
        ({"before": "page-2"}, "before"),
        ({"person_id": "٣"}, "person_id"),
        ({"door": "front door"}, "door"),
        ({"limit": "+1"}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_filters_are_400s(console: httpx.AsyncClient, params: dict[str, str], bad: str) -> None:
    api = await console.get("/api/v1/events", params=params)
    assert api.status_code == 400 and api.json()["error"] == "invalid_query" and bad in api.json()["detail"]
    page = await console.get("/events", params=params)
    assert page.status_code == 400 and "Filter not understood" in page.text and bad in page.text
    assert (await console.get("/events.csv", params=params)).status_code == 400


async def test_page_pages_and_detail(console: httpx.AsyncClient, history: History) -> None:
    written = _listed(history.written)
    expected = newest_first(written, lambda e: e.kind == "audit")
    seen: list[int] = []
    url: str | None = "/events?kind=audit"
    pages = 0
    while url is not None:
        html = (await console.get(url)).text
        seen += [int(i) for i in re.findall(r'data-event-id="(\d+)"', html)]
        older = re.search(r'href="([^"]+)" class="button secondary" rel="next"', html)
        url = older[1].replace("&amp;", "&") if older else None
        pages += 1
    assert seen == expected and pages == -(-len(expected) // 50)

    html = (await console.get("/events", params={"door": "front"})).text
    assert f'src="/events/{history.door_record.id}/thumbnail.jpg"' in html
    assert 'Not opened: <strong class="reason">unknown card</strong>' in html
    assert "selected>Front door</option>" in html  # the form keeps the filter
    assert "Times in Europe/Berlin" in html

    detail = await console.get(f"/events/{history.door_record.id}")
    assert detail.status_code == 200
    assert "unknown card" in detail.text and "<dd>Front door</dd>" in detail.text and "<dd>Lobby</dd>" in detail.text
    assert f'src="/events/{history.door_record.id}/image.jpg"' in detail.text
    local = history.door_record.occurred_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S")
    assert local in detail.text
    alarm = await console.get(f"/events/{history.alarm_record.id}")
    assert f'href="/events/{history.alarm_record.id}/clip.mp4"' in alarm.text
    for missing in ("999999", "abc", "9" * 30):
        assert (await console.get(f"/events/{missing}")).status_code == 404


async def test_pictures_and_clip(console: httpx.AsyncClient, history: History, edge_app: EdgeRunner) -> None:
    thumb = await console.get(f"/events/{history.camera_record.id}/thumbnail.jpg")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    small = cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR)
    assert small.shape[1] == 160  # made from the camera's snapshot
    full = await console.get(f"/events/{history.camera_record.id}/image.jpg")
    assert cv2.imdecode(np.frombuffer(full.content, np.uint8), cv2.IMREAD_COLOR).shape[1] > 160
    door_thumb = await console.get(f"/events/{history.door_record.id}/thumbnail.jpg")
    assert door_thumb.status_code == 200 and len(door_thumb.content) > 0
    clip = await console.get(f"/events/{history.alarm_record.id}/clip.mp4")
    assert clip.status_code == 200 and clip.content.endswith(b"clip")
    assert "attachment" in clip.headers["content-disposition"]
    unpictured = next(e for e in history.written if e.kind == "telemetry")
    for what in ("image.jpg", "thumbnail.jpg", "clip.mp4"):
        assert (await console.get(f"/events/{unpictured.id}/{what}")).status_code == 404
    assert (await console.get(f"/events/{history.door_record.id}/clip.mp4")).status_code == 404
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as anonymous:
        assert (await anonymous.get(f"/events/{history.camera_record.id}/image.jpg")).status_code == 303
        assert (await anonymous.get("/events.csv")).status_code == 303


async def test_csv_of_the_filtered_set(console: httpx.AsyncClient, history: History) -> None:
    written = _listed(history.written)
    response = await console.get("/events.csv", params={"door": "front"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == newest_first(written, lambda e: e.payload.get("door_id") == "front")
    alarm = next(r for r in rows if int(r["id"]) == history.alarm_record.id)
    assert alarm["summary"] == "'=alarm forced at Front door"  # not a formula in a spreadsheet
    badge = next(r for r in rows if int(r["id"]) == history.door_record.id)
    assert (badge["granted"], badge["reason"], badge["reason_words"]) == ("false", "unknown_credential", "unknown card")
    assert badge["zone"] == "lobby" and badge["door"] == "front"
    assert (
        datetime.fromisoformat(badge["time"]).utcoffset()
        == history.door_record.occurred_at.astimezone(BERLIN).utcoffset()
    )
    # The whole journal in one export (the box's own records too): many pages of the query, one streamed answer.
    everything = [int(r["id"]) for r in csv.DictReader(io.StringIO((await console.get("/events.csv")).text))]
    assert everything == [e["id"] for e in await _follow(console, "/api/v1/events?limit=500")]
    assert set(everything) >= {e.id for e in written} and len(everything) > 500

    window = await console.get("/events.csv", params={"from": "2026-03-10T00:00", "to": "2026-03-12"})
    since = datetime(2026, 3, 10, tzinfo=BERLIN)
    until = datetime(2026, 3, 13, tzinfo=BERLIN)
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(window.text))]
    assert ids == newest_first(written, lambda e: since <= e.occurred_at < until) and ids
    assert START < since  # the window lies inside the seeded months


async def test_viewer_reads_the_timeline(edge_app: EdgeRunner, history: History) -> None:
    for path in ("/events", "/events.csv", "/events/1", "/events/1/image.jpg", "/events/1/clip.mp4"):
        assert required_role("GET", path) == "viewer"
    await edge_app.app[CONSOLE_AUTH].create_user("victor", "viewer-password-1", "viewer")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge_app.web_port}") as viewer:
        await console_login(viewer, "viewer-password-1", "victor")
        page = await viewer.get("/events", params={"camera": "plaza"})
        assert page.status_code == 200 and f'data-event-id="{history.camera_record.id}"' in page.text
        assert (await viewer.get("/events.csv", params={"camera": "plaza"})).status_code == 200
        assert '<a href="/events" class="nav">Events</a>' in (await viewer.get("/")).text


async def test_openapi_lists_every_filter(console: httpx.AsyncClient) -> None:
    document = (await console.get(OPENAPI_PATH)).json()
    params = {p["name"] for p in document["paths"]["/api/v1/events"]["get"]["parameters"]}
    names = {f.alias or name for name, f in EventQueryIn.model_fields.items()}
    assert params == names == {p["name"] for p in OPENAPI_PARAMETERS}
