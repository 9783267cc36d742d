"""Log in to the edge console as the test site's admin: over HTTP (with its CSRF token) or in the browser."""

from __future__ import annotations

import httpx
from playwright.async_api import Page

from tests.edge.site import ADMIN_PASSWORD

CSRF_MARKER = 'name="csrf-token" content="'


async def console_login(client: httpx.AsyncClient, password: str = ADMIN_PASSWORD, username: str = "admin") -> str:
    """Log `client` in as admin (or `username`; the session cookie stays in it); return the page's CSRF token."""
    response = await client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 303, response.text
    page = (await client.get("/")).text
    start = page.index(CSRF_MARKER) + len(CSRF_MARKER)
    return page[start : page.index('"', start)]


async def console_headers(client: httpx.AsyncClient) -> dict[str, str]:
    """Log `client` in as admin; return the headers an unsafe API request needs."""
    return {"X-CSRF-Token": await console_login(client)}


async def browser_login(page: Page, base_url: str, password: str = ADMIN_PASSWORD, username: str = "admin") -> None:
    """Fill and send the console's login form in `page` (the caller waits for what it expects next)."""
    await page.goto(base_url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
