"""Session-bound CSRF tokens that need no storage: an HMAC of the session cookie token.

Knowing a CSRF token reveals nothing about the session token (HMAC), and the database holds neither in clear, so
a leaked row yields neither. The label separates the edge console's tokens from the cloud portal's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derive_csrf_token(session_token: str, label: bytes) -> str:
    """Return the CSRF token of the session whose cookie carries `session_token` (URL-safe, 43 characters)."""
    digest = hmac.new(session_token.encode(), label, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_matches(expected: str, submitted: str | None) -> bool:
    """Constant-time comparison of a submitted CSRF token; a missing or empty one never matches."""
    return bool(submitted) and hmac.compare_digest(expected.encode(), (submitted or "").encode())
