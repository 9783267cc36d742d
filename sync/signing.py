"""HMAC signing of sync request bodies.

The signature covers the timestamp and the exact (gzip) body bytes:
``hex(HMAC-SHA256(secret, f"{timestamp}.".encode() + body))``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

SITE_HEADER = "X-Outpost-Site"
TIMESTAMP_HEADER = "X-Outpost-Timestamp"
SIGNATURE_HEADER = "X-Outpost-Signature"
# A box enrolled from an offline file proves it on its first batches (sync/enrollment_file.py).
CLAIM_HEADER = "X-Outpost-Enrollment-Claim"
MAX_CLOCK_SKEW_S = 300

SecretSource = str | Callable[[], str]
"""A site secret, or a function returning the current one (re-read after `outpost-provision rotate-secret`)."""


def current_secret(source: SecretSource) -> str:
    """The secret `source` holds now."""
    return source if isinstance(source, str) else source()


class SignatureError(Exception):
    """A request's signature is missing, stale or wrong."""


class StaleTimestamp(SignatureError):
    """A correctly signed request whose timestamp is outside the window: an old replay, or a skewed clock."""

    def __init__(self, skew_s: float) -> None:
        super().__init__(
            f"timestamp outside the allowed clock skew ({skew_s:+.0f} s from the server's clock, "
            f"limit {MAX_CLOCK_SKEW_S} s): an expired request, or the site's clock is wrong"
        )
        self.skew_s = skew_s


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Return the timestamp and signature headers for `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(bytes.fromhex(secret), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: mac}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
) -> float:
    """Raise SignatureError unless `signature` is valid for `body` and the timestamp is fresh.

    Returns the sender's clock skew (its timestamp minus this clock, seconds). The signature is checked before
    the window, so `StaleTimestamp` (with the skew) is only raised for a genuine request of the key holder.
    """
    if not timestamp or not signature:
        raise SignatureError("missing signature headers")
    if not signature.isascii():  # compare_digest refuses non-ASCII text (TypeError)
        raise SignatureError("malformed signature")
    try:
        ts = int(timestamp)
    except ValueError as err:
        raise SignatureError("malformed timestamp") from err
    expected = sign(secret, body, ts)[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("signature mismatch")
    skew = ts - (time.time() if now is None else now)
    if abs(skew) > MAX_CLOCK_SKEW_S:
        raise StaleTimestamp(skew)
    return skew


def request_target_bytes(method: str, path_and_query: str) -> bytes:
    """Return the bytes signed for a request without a body (e.g. a configuration pull)."""
    return f"{method.upper()} {path_and_query}".encode()
