"""The login throttle on a hand-advanced clock: who counts against which window, and hostile cookies."""

from __future__ import annotations

from pathlib import Path

import pytest

from webguard.login_throttle import LoginAttempt, LoginThrottle, load_or_create_key
from webguard.params import MAX_DB_INT, parse_id
from webguard.ratelimit import RateLimited

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, attempt: LoginAttempt, times: int) -> None:
    for _ in range(times):
        throttle.attempt(attempt)


def test_strangers_lock_the_account_for_strangers_only() -> None:
    clock = Clock()
    throttle = LoginThrottle(KEY, 3, 60, clock=clock)
    owner = LoginAttempt("10.0.0.1", "ops@acme.example")
    throttle.attempt(owner)
    known = LoginAttempt("10.0.0.1", "ops@acme.example", throttle.succeeded(owner))

    fail(throttle, LoginAttempt("198.51.100.1", "ops@acme.example"), 3)
    with pytest.raises(RateLimited):
        throttle.attempt(LoginAttempt("198.51.100.2", "ops@acme.example"))
    throttle.attempt(known)  # the owner's browser: its own count, untouched by the strangers
    clock.now += 60
    throttle.attempt(LoginAttempt("198.51.100.2", "ops@acme.example"))  # the window slid


@pytest.mark.parametrize(
    "cookie",
    ["", ".", "abc", "a.b.c", "x" * 500, "abc.ÿÿÿ", "abc.\x00", "\u2603.\u2603"],
)
def test_a_malformed_cookie_is_an_unknown_client(cookie: str) -> None:
    throttle = LoginThrottle(KEY, 2, 60, clock=Clock())
    fail(throttle, LoginAttempt("10.0.0.9", "ops@acme.example", cookie), 2)

    with pytest.raises(RateLimited):
        throttle.attempt(LoginAttempt("10.0.0.9", "other@acme.example", cookie))  # the IP's window


def test_a_cookie_is_bound_to_its_account_and_key() -> None:
    throttle = LoginThrottle(KEY, 1, 60, clock=Clock())
    first = LoginAttempt("10.0.0.1", "ops@acme.example")
    throttle.attempt(first)
    cookie = throttle.succeeded(first)
    other_key = LoginThrottle(b"o" * 32, 1, 60, clock=Clock())
    other_key.attempt(LoginAttempt("10.0.0.2", "ops@acme.example", cookie))  # unknown there: the IP counts

    with pytest.raises(RateLimited):
        other_key.attempt(LoginAttempt("10.0.0.2", "ops@acme.example", cookie))
    throttle.attempt(LoginAttempt("10.0.0.1", "ops@acme.example", cookie))  # known here
    with pytest.raises(RateLimited):
        throttle.attempt(LoginAttempt("10.0.0.1", "dev@acme.example", cookie))  # another account: the IP is spent


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "console_key"

    first = load_or_create_key(path)
    path.chmod(0o644)
    second = load_or_create_key(path)

    assert first == second and len(first) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert "hidden" in repr(LoginThrottle(first, 1, 1))
    with pytest.raises(ValueError):
        LoginThrottle(b"short", 1, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), (str(MAX_DB_INT), MAX_DB_INT), (str(MAX_DB_INT + 1), None), ("9" * 30, None)]
    + [(bad, None) for bad in ["", "１", "٣", "+1", "-1", " 1", "1 ", "1_0", "0x1", "1e3", "1.0"]],
)
def test_ids_are_ascii_digits_within_64_bits(text: str, value: int | None) -> None:
    assert parse_id(text) == value
