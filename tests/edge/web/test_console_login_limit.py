"""Console login rate limit: guessing is refused with 429, yet the owner's own browser still gets in.

Distinct client IPs are real: the clients bind to other loopback addresses (127.0.0.2, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from edge.app import EdgeRunner
from edge.config import EdgeConfig
from tests.edge.console import console_login
from tests.edge.site import ADMIN_PASSWORD
from webguard.login_throttle import KNOWN_CLIENT_COOKIE

ATTEMPTS = 3


@pytest.fixture
def edge_config(edge_config: EdgeConfig) -> EdgeConfig:
    """The small test site, allowing 3 login attempts per 10 minutes."""
    web = edge_config.web.model_copy(update={"login_attempts": ATTEMPTS, "login_window_s": 600})
    return edge_config.model_copy(update={"web": web})


@pytest.fixture
async def clients(edge_app: EdgeRunner) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Three HTTP clients of the console, each from its own loopback address."""
    opened = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{edge_app.web_port}",
            timeout=30,
            transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n}"),
        )
        for n in (2, 3, 4)
    ]
    try:
        yield opened
    finally:
        for client in opened:
            await client.aclose()


async def login(client: httpx.AsyncClient, password: str, username: str = "admin") -> httpx.Response:
    return await client.post("/login", data={"username": username, "password": password})


async def test_guessing_is_limited_per_ip_even_for_the_right_password(clients: list[httpx.AsyncClient]) -> None:
    guesser, other, _ = clients

    wrong = [await login(guesser, f"guess-{n}") for n in range(ATTEMPTS)]
    blocked = await login(guesser, ADMIN_PASSWORD)
    other_account = await login(guesser, "x", username="someone-else")

    assert [r.status_code for r in wrong] == [401] * ATTEMPTS
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 600
    assert "Too many login attempts; please wait 10 minutes." in blocked.text
    assert "outpost_session" not in blocked.cookies
    assert other_account.status_code == 429  # the IP's budget is spent, whatever the account
    assert (await guesser.get("/api/v1/status")).status_code == 401
    # Another client that never logged in: refused too, the account is under attack...
    assert (await login(other, ADMIN_PASSWORD)).status_code == 429


async def test_the_owners_known_browser_still_gets_in_during_an_attack(clients: list[httpx.AsyncClient]) -> None:
    owner, attacker_1, attacker_2 = clients
    csrf = await console_login(owner)
    assert KNOWN_CLIENT_COOKIE in owner.cookies
    assert (await owner.post("/logout", data={"csrf_token": csrf})).status_code == 303

    # Guesses from several IPs exhaust the account's budget for clients it does not know.
    for attacker in (attacker_1, attacker_2):
        for n in range(ATTEMPTS):
            await login(attacker, f"guess-{n}")
    assert (await login(attacker_2, ADMIN_PASSWORD)).status_code == 429

    back_in = await login(owner, ADMIN_PASSWORD)

    assert back_in.status_code == 303
    assert (await owner.get("/api/v1/status")).status_code == 200


async def test_a_known_browser_guessing_is_limited_on_its_own(clients: list[httpx.AsyncClient]) -> None:
    owner, _, _ = clients
    assert (await login(owner, ADMIN_PASSWORD)).status_code == 303
    known_cookie = owner.cookies[KNOWN_CLIENT_COOKIE]

    wrong = [await login(owner, f"guess-{n}") for n in range(ATTEMPTS)]
    blocked = await login(owner, ADMIN_PASSWORD)
    owner.cookies.clear()
    # A forged cookie (another id, the same signature) counts as an unknown client, not as a fresh budget.
    client_id, signature = known_cookie.split(".")
    owner.cookies.set(KNOWN_CLIENT_COOKIE, f"x{client_id}.{signature}", path="/login")
    forged = await login(owner, ADMIN_PASSWORD)

    assert [r.status_code for r in wrong] == [401] * ATTEMPTS
    assert blocked.status_code == 429
    assert forged.status_code == 303  # the IP and the account had no failures of their own
