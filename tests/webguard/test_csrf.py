"""webguard.csrf: CSRF tokens derived from the session cookie token."""

from __future__ import annotations

import secrets

from webguard.csrf import csrf_matches, derive_csrf_token


def test_the_token_is_stable_per_session_and_differs_per_session_and_label() -> None:
    token, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)

    csrf = derive_csrf_token(token, b"label a")

    assert csrf == derive_csrf_token(token, b"label a")
    assert csrf != derive_csrf_token(other, b"label a")
    assert csrf != derive_csrf_token(token, b"label b")
    assert token not in csrf and len(csrf) == 43


def test_only_the_exact_token_matches() -> None:
    csrf = derive_csrf_token("session", b"label")

    assert csrf_matches(csrf, csrf)
    assert not csrf_matches(csrf, csrf[:-1])
    assert not csrf_matches(csrf, "")
    assert not csrf_matches(csrf, None)
    assert not csrf_matches("", "")
