"""Rate limits on login and enrollment: per client IP and per e-mail or code, 429 with Retry-After beyond.

Distinct client IPs are real: the clients bind to other loopback addresses (127.0.0.2, ...).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cloud_helpers import PASSWORD, TenantFixture, portal_login

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.config import CloudConfig, ConfigError, build_config
from cloud.enrollment import new_code
from sync.wire import ENROLL_PATH
from webguard.login_throttle import KNOWN_CLIENT_COOKIE
from webguard.ratelimit import RateLimited, RateLimiter

ATTEMPTS = 3
WINDOW_S = 600


@pytest.fixture
def cloud_config(tmp_path: Path, db_url: str) -> CloudConfig:
    """A cloud allowing 3 attempts per 10 minutes (small, so the tests stay quick)."""
    return CloudConfig(
        data_dir=tmp_path / "cloud",
        database_url=db_url,
        port=0,
        rate_limit_attempts=ATTEMPTS,
        rate_limit_window_s=WINDOW_S,
    )


@pytest.fixture
async def clients(cloud: RunningCloud) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Four HTTP clients, each from its own loopback address."""
    opened = [
        httpx.AsyncClient(
            base_url=cloud.url, timeout=30, transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n}")
        )
        for n in range(2, 6)
    ]
    try:
        yield opened
    finally:
        for client in opened:
            await client.aclose()


async def api_login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/login", json={"email": email, "password": password})


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_S
    assert response.json() == {"error": "rate_limited", "detail": f"too many attempts; retry in {retry_after} s"}


async def test_login_is_limited_per_email_across_ips(
    clients: list[httpx.AsyncClient], tenant: TenantFixture, cloud: RunningCloud
) -> None:
    first, second, _, _ = clients
    await create_user(cloud.db, tenant.tenant_id, "viewer@acme.example", PASSWORD)

    failures = [await api_login(first, tenant.admin_email, "wrong password") for _ in range(ATTEMPTS)]
    # Another IP, the right password, the e-mail in another case: still refused, before any password check.
    blocked = await api_login(second, tenant.admin_email.upper(), PASSWORD)
    other_user = await api_login(second, "viewer@acme.example", PASSWORD)

    assert [r.status_code for r in failures] == [401] * ATTEMPTS
    assert_limited(blocked)
    assert "outpost_session" not in blocked.cookies
    assert other_user.status_code == 200


async def test_guessing_from_many_ips_cannot_lock_the_owner_out(
    clients: list[httpx.AsyncClient], tenant: TenantFixture
) -> None:
    owner, attacker_1, attacker_2, newcomer = clients
    assert (await api_login(owner, tenant.admin_email, PASSWORD)).status_code == 200
    assert KNOWN_CLIENT_COOKIE in owner.cookies

    # Wrong passwords for the admin's e-mail from several IPs: the e-mail is locked for clients it does not know.
    guesses = [await api_login(a, tenant.admin_email, f"guess {n}") for a in (attacker_1, attacker_2) for n in range(3)]
    owner_back = await api_login(owner, tenant.admin_email, PASSWORD)
    stranger = await api_login(newcomer, tenant.admin_email, PASSWORD)

    assert [r.status_code for r in guesses] == [401] * ATTEMPTS + [429] * ATTEMPTS
    assert owner_back.status_code == 200  # the owner's own browser still gets in
    assert_limited(stranger)


async def test_a_known_client_guessing_is_limited_by_its_own_count(
    clients: list[httpx.AsyncClient], tenant: TenantFixture
) -> None:
    owner, other, _, _ = clients
    assert (await api_login(owner, tenant.admin_email, PASSWORD)).status_code == 200
    cookie = owner.cookies[KNOWN_CLIENT_COOKIE]

    wrong = [await api_login(owner, tenant.admin_email, "typo") for _ in range(ATTEMPTS)]
    blocked = await api_login(owner, tenant.admin_email, PASSWORD)
    # The count goes with the cookie, not the IP: a copied cookie brings no fresh guesses.
    other.cookies.set(KNOWN_CLIENT_COOKIE, cookie)
    copied = await api_login(other, tenant.admin_email, PASSWORD)
    other.cookies.clear()
    without_cookie = await api_login(other, tenant.admin_email, PASSWORD)

    assert [r.status_code for r in wrong] == [401] * ATTEMPTS
    assert_limited(blocked)
    assert_limited(copied)
    assert without_cookie.status_code == 200  # the IP and the e-mail had no failures of their own


async def test_login_is_limited_per_ip(clients: list[httpx.AsyncClient], tenant: TenantFixture) -> None:
    first, second, _, _ = clients

    failures = [await api_login(first, f"nobody{n}@example.com", "guess") for n in range(ATTEMPTS)]
    blocked = await api_login(first, tenant.admin_email, PASSWORD)
    elsewhere = await api_login(second, tenant.admin_email, PASSWORD)

    assert [r.status_code for r in failures] == [401] * ATTEMPTS
    assert_limited(blocked)
    assert elsewhere.status_code == 200


async def test_successful_login_resets_the_email_count(clients: list[httpx.AsyncClient], tenant: TenantFixture) -> None:
    first, second, _, _ = clients

    early = [await api_login(first, tenant.admin_email, "typo") for _ in range(ATTEMPTS - 1)]
    success = await api_login(first, tenant.admin_email, PASSWORD)
    # From a fresh IP: the e-mail's count started again at the successful login.
    later = [await api_login(second, tenant.admin_email, "typo") for _ in range(ATTEMPTS)]
    blocked = await api_login(second, tenant.admin_email, "typo")

    assert [r.status_code for r in early] == [401] * (ATTEMPTS - 1)
    assert success.status_code == 200
    assert [r.status_code for r in later] == [401] * ATTEMPTS
    assert_limited(blocked)


async def test_login_form_answers_a_429_page(clients: list[httpx.AsyncClient], tenant: TenantFixture) -> None:
    browser = clients[0]

    failures = [await portal_login(browser, tenant.admin_email, "wrong password") for _ in range(ATTEMPTS)]
    blocked = await portal_login(browser, tenant.admin_email, PASSWORD)

    assert [r.status_code for r in failures] == [401] * ATTEMPTS
    assert blocked.status_code == 429
    assert blocked.headers["content-type"].startswith("text/html")
    assert 1 <= int(blocked.headers["Retry-After"]) <= WINDOW_S
    assert "Too many login attempts; please wait 10 minutes" in blocked.text
    assert "outpost_session" not in browser.cookies


async def test_enrollment_is_limited_per_code_and_per_ip(
    clients: list[httpx.AsyncClient], tenant: TenantFixture
) -> None:
    first, second, third, fourth = clients
    guessed = new_code()

    tries = [await first.post(ENROLL_PATH, json={"code": guessed}) for _ in range(ATTEMPTS)]
    # The same code from elsewhere, typed differently: counted as the same code.
    same_code = await second.post(ENROLL_PATH, json={"code": guessed.lower().replace("-", " ")})
    other_code = await second.post(ENROLL_PATH, json={"code": new_code()})
    sprayed = [await third.post(ENROLL_PATH, json={"code": new_code()}) for _ in range(ATTEMPTS)]
    good_code_from_sprayer = await third.post(ENROLL_PATH, json={"code": tenant.code})
    good_code_elsewhere = await fourth.post(ENROLL_PATH, json={"code": tenant.code, "hostname": "box-1"})

    assert [r.status_code for r in tries] == [404] * ATTEMPTS
    assert_limited(same_code)
    assert other_code.status_code == 404
    assert [r.status_code for r in sprayed] == [404] * ATTEMPTS
    assert_limited(good_code_from_sprayer)
    assert good_code_elsewhere.status_code == 200, good_code_elsewhere.text


async def test_malformed_enrollment_bodies_are_400_not_counted(clients: list[httpx.AsyncClient]) -> None:
    client = clients[0]

    malformed = [await client.post(ENROLL_PATH, json={"hostname": "x"}) for _ in range(ATTEMPTS + 1)]
    unknown = await client.post(ENROLL_PATH, json={"code": new_code()})

    assert [r.status_code for r in malformed] == [400] * (ATTEMPTS + 1)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rate_limit_attempts": 0}, "rate_limit_attempts: Input should be greater than or equal to 1"),
        ({"rate_limit_window_s": "soon"}, "rate_limit_window_s: Input should be a valid integer"),
        ({"rate_limit_window_s": 100_000}, "rate_limit_window_s: Input should be less than or equal to 86400"),
    ],
)
def test_rate_limit_config_is_validated(tmp_path: Path, values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config({"data_dir": str(tmp_path), **values})


def test_defaults_are_ten_attempts_per_five_minutes(tmp_path: Path) -> None:
    config = build_config({"data_dir": str(tmp_path)})

    assert (config.rate_limit_attempts, config.rate_limit_window_s) == (10, 300)


class Clock:
    """A hand-advanced clock for the limiter (the window is minutes long; tests must not wait)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_slides_and_retry_after_counts_down() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)

    limiter.attempt("a")
    clock.now += 10
    limiter.attempt("a")
    with pytest.raises(RateLimited) as first:
        limiter.attempt("a")
    clock.now += 49.5
    with pytest.raises(RateLimited) as second:
        limiter.attempt("a")
    clock.now += 0.5  # the first attempt leaves the window
    limiter.attempt("a")

    assert (first.value.retry_after, second.value.retry_after) == (50, 1)
    with pytest.raises(RateLimited):
        limiter.attempt("b", "a")  # one key over its limit refuses the attempt...
    limiter.attempt("b")  # ...and records nothing for the others
    limiter.attempt("b")
    limiter.reset("a")
    limiter.attempt("a")


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 60, max_keys=100, clock=clock)

    for n in range(1000):
        limiter.attempt(f"ip:{n}")
    bounded = len(limiter)
    clock.now += 60
    limiter.attempt("late")

    assert bounded == 100
    assert len(limiter) == 1  # keys idle for a whole window are forgotten


def test_limiter_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 60)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)
