"""Every console page in headless Chromium, as admin, guard and viewer: the pages are enumerated from the app's
router (a new page is swept without touching this test; a new parametrised page needs its id in `KNOWN_IDS`).

For each role and page: 200, or the 403 page when edge.web.roles refuses the role; nothing scrolls sideways at
390 px; every form control has a label (label[for], wrapped label, aria-label or aria-labelledby); every page the
role may see is reachable by links from the navigation bar, and no link it is shown is dead or refused; screenshots
at 390 and 1280 px per role and page.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from edge.web.auth import CONSOLE_AUTH
from edge.web.roles import ROLES, Role, allowed
from tests.browser import PHONE, chromium
from tests.edge.console import browser_login, console_headers
from tests.edge.site import ADMIN_PASSWORD
from tests.edge.web.events_site import events_site_config, seed_site
from tests.edge.web.test_doors_console import OFFICE
from tests.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Paths that are not console pages: the JSON API and assets, public probes, the login form.
NOT_PAGES = re.compile(r"^/(api|static)/|^/(login|healthz|readyz|metrics)$")
# The last segment names a file (CSV, picture, clip, stream): not a page.
A_FILE = re.compile(r"/[^/]*\.[A-Za-z0-9]+$")
PASSWORDS: dict[Role, tuple[str, str]] = {
    "admin": ("admin", ADMIN_PASSWORD),
    "guard": ("gina", "guard-password-1"),
    "viewer": ("victor", "viewer-password-1"),
}
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")].filter((el) => {
  if (["hidden", "submit", "button", "reset", "image"].includes(el.type)) return false;
  if ((el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby")) return false;
  if (el.closest("label")) return false;
  return !(el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`));
}).map((el) => el.outerHTML.slice(0, 160))"""
LINKS = "() => [...document.querySelectorAll('a[href]')].map((a) => a.href)"
NAV_LINKS = "() => [...document.querySelectorAll('header a[href]')].map((a) => a.href)"
SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"


@pytest.fixture
def edge_config(tmp_path: Path) -> EdgeConfig:
    """The events site (two doors, two cameras, seeded history) with a schedule, holidays and an access level."""
    data = events_site_config(tmp_path / "edge").model_dump(mode="json", exclude_unset=True)
    data["schedules"] = {"office": OFFICE}
    data["holidays"] = {"public": {"name": "Public holidays", "annual": ["12-25"]}}
    data["access"] = {"levels": {"staff": {"doors": ["*"], "schedule": "office"}}}
    return EdgeConfig.model_validate(data)


def page_routes(app: web.Application) -> list[str]:
    """The router's GET paths that may be console pages (formatted with `{name}` placeholders)."""
    paths: list[str] = []
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path or NOT_PAGES.match(path) or A_FILE.search(path):
            continue
        if any(route.method == "GET" for route in resource) and path not in paths:
            paths.append(path)
    return paths


def fill(path: str, known: dict[str, str]) -> str:
    """`path` with each `{name}` or `{name:regex}` replaced by the known id for it."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in known, f"{path}: no known id for {{{name}}}; add one to the sweep's KNOWN_IDS"
        return known[name]

    return re.sub(r"\{(\w+)(?::[^}]*)?\}", one, path)


def local(url: str, base: str) -> str | None:
    """The path and query of a same-origin `url`, or None."""
    if not url.startswith(base):
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def sweep_role(context: BrowserContext, base: str, role: Role, pages: list[str]) -> dict[str, Any]:
    """Visit every page as `role`; return what was found wrong."""
    problems: dict[str, Any] = {"status": [], "sideways": [], "unlabelled": [], "unreachable": [], "dead": []}
    page: Page = await context.new_page()
    user, password = PASSWORDS[role]
    await browser_login(page, base, password, user)
    await page.wait_for_url(base + "/")
    nav = {p for p in (local(u, base) for u in await page.evaluate(NAV_LINKS)) if p}
    links: dict[str, set[str]] = {}
    for path in pages:
        response = await page.goto(base + path)
        assert response is not None
        expected = 200 if allowed(role, "GET", path) else 403
        if response.status != expected:
            problems["status"].append((path, response.status, expected))
            continue
        await page.set_viewport_size(PHONE)
        if await page.evaluate(SIDEWAYS):
            problems["sideways"].append(path)
        slug = "home" if path == "/" else path.strip("/")
        await save_screenshots(page, f"sweep-{role}-{slug}")
        if expected == 403:
            assert "needs the admin role" in await page.inner_text("main"), path
            continue
        unlabelled = await page.evaluate(UNLABELLED)
        if unlabelled:
            problems["unlabelled"].append((path, unlabelled))
        links[path] = {p for p in (local(u, base) for u in await page.evaluate(LINKS)) if p}
    await page.close()

    # Reachable from the navigation bar by following links between pages (queries do not matter here).
    seen: set[str] = set()
    queue = deque(urlsplit(p).path for p in nav)
    while queue:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        queue.extend(urlsplit(p).path for p in links.get(path, ()))
    problems["unreachable"] = [p for p in links if p not in seen]

    # No dead or refused link on any page the role sees (live streams excepted: they never end).
    every_link = sorted({p for found in links.values() for p in found if not p.split("?")[0].endswith(".mjpeg")})
    for link in every_link:
        if urlsplit(link).path == "/logout":
            continue
        answer = await context.request.get(base + link, max_redirects=0)
        if answer.status >= 400:
            problems["dead"].append((link, answer.status))
    return problems


async def test_every_console_page_for_every_role(edge_app: EdgeRunner, vtest_path: Path) -> None:
    history = await seed_site(edge_app, vtest_path, 5)
    auth = edge_app.app[CONSOLE_AUTH]
    await auth.create_user("gina", PASSWORDS["guard"][1], "guard")
    await auth.create_user("victor", PASSWORDS["viewer"][1], "viewer")
    base = f"http://127.0.0.1:{edge_app.web_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        headers = await console_headers(client)
        person = await client.post(
            "/api/v1/people", json={"name": "Ada Lovelace", "credentials": ["4242"]}, headers=headers
        )
        assert person.status_code == 201, person.text
        rule = {
            "id": "night",
            "name": "Night lockdown",
            "trigger": {"type": "time", "at": "22:00"},
            "actions": [{"type": "lockdown", "active": True}],
        }
        assert (await client.put("/api/v1/rules/night", json=rule, headers=headers)).status_code == 200
    known_ids = {
        "door_id": "front",
        "schedule_id": "office",
        "calendar_id": "public",
        "camera_id": "plaza",
        "event_id": str(history.door_record.id),
        "person_id": str(person.json()["id"]),
        "rule_id": "night",
    }
    # Only routes answering HTML are pages (an admin may read every one of them).
    candidates = [fill(path, known_ids) for path in page_routes(edge_app.app)]
    pages: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        await console_headers(client)
        for path in candidates:
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            if answer.headers["content-type"].startswith("text/html"):
                pages.append(path)
    for expected in ("/", "/events", "/people", "/doors", "/devices", "/cameras", "/system", "/rules", "/users"):
        assert expected in pages, pages

    found: dict[str, Any] = {}
    async with chromium() as browser:
        for role in ROLES:
            context = await browser.new_context(viewport=PHONE)
            try:
                found[role] = await sweep_role(context, base, role, pages)
            finally:
                await context.close()
    wrong = {role: {k: v for k, v in problems.items() if v} for role, problems in found.items()}
    assert wrong == {"admin": {}, "guard": {}, "viewer": {}}, wrong
