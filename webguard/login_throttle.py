"""Login throttling that slows password guessing without letting an attacker lock the real user out.

A login attempt from an unknown client counts against three sliding windows: the client IP (spraying many
accounts), the IP and account together, and the account across all IPs (guessing one password from many IPs).
Counting only per account would hand anyone who knows an e-mail address a way to lock its owner out, so a
client that has logged in to the account before carries a *known-client cookie* (an HMAC-signed random id bound
to the account, OWASP "device cookies"): its attempts count only against that cookie, never against the IP or
the account, so the owner's own browser still gets in while strangers are locked out. A stolen cookie buys no
more guesses than one IP has.

State is in memory (see `webguard.ratelimit`); the cookie key should persist so known clients survive a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webguard.ratelimit import DEFAULT_MAX_KEYS, RateLimited, RateLimiter

KNOWN_CLIENT_COOKIE = "outpost_known_client"
KNOWN_CLIENT_MAX_AGE_S = 365 * 24 * 3600
KEY_BYTES = 32

__all__ = ["KNOWN_CLIENT_COOKIE", "KNOWN_CLIENT_MAX_AGE_S", "LoginThrottle", "RateLimited", "load_or_create_key"]


def load_or_create_key(path: Path) -> bytes:
    """Return the key stored in `path`, creating it (random, mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created meanwhile by another process: read that one
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    path.chmod(0o600)
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise ValueError(f"{path}: key is shorter than 16 bytes")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class LoginAttempt:
    """Who is trying: the client address, the account (normalised) and the known-client cookie, if any."""

    ip: str
    account: str
    known_client: str | None = None


class LoginThrottle:
    """Decide whether a login attempt may be checked; issue known-client cookies after a success."""

    def __init__(
        self,
        key: bytes,
        attempts: int,
        window_s: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the known-client key must be at least 16 bytes")
        # Domain-separated, so a key shared with another purpose (e.g. session digests) signs nothing else here.
        self._key = hmac.new(key, b"outpost known-client cookie v1", hashlib.sha256).digest()
        self._limiter = RateLimiter(attempts, window_s, max_keys=max_keys, clock=clock)

    def __repr__(self) -> str:
        return "LoginThrottle(<key hidden>)"

    def attempt(self, attempt: LoginAttempt) -> None:
        """Count one attempt, or raise RateLimited (counting nothing) when one of its windows is full."""
        self._limiter.attempt(*self._keys(attempt))

    def succeeded(self, attempt: LoginAttempt) -> str:
        """Clear the counts the owner's success proves harmless; return the known-client cookie to set."""
        for key in self._keys(attempt):
            if not key.startswith("ip:"):  # the IP may be shared with a guesser (NAT): its count stays
                self._limiter.reset(key)
        client_id = self._client_id(attempt) or secrets.token_urlsafe(16)
        return f"{client_id}.{self._sign(client_id, attempt.account)}"

    def _keys(self, attempt: LoginAttempt) -> tuple[str, ...]:
        client_id = self._client_id(attempt)
        if client_id is not None:
            return (f"client:{client_id}",)
        account = hashlib.sha256(attempt.account.encode()).hexdigest()[:32]  # bounded key size
        return (f"ip:{attempt.ip}", f"ip-account:{attempt.ip}|{account}", f"account:{account}")

    def _client_id(self, attempt: LoginAttempt) -> str | None:
        """Return the id in a valid known-client cookie for this account, else None."""
        cookie = attempt.known_client
        if not cookie or len(cookie) > 200 or cookie.count(".") != 1:
            return None
        client_id, signature = cookie.split(".")
        if not client_id or not hmac.compare_digest(
            signature.encode(), self._sign(client_id, attempt.account).encode()
        ):
            return None
        return client_id

    def _sign(self, client_id: str, account: str) -> str:
        message = f"{client_id}\n{account}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())
