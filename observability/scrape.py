"""Who may read /metrics, and the exposition response.

Rule (docs/OPERATIONS.md): a client on the loopback interface may always scrape; any other client must send
``Authorization: Bearer <token>`` with the token kept in a file of mode 0600 (``<data dir>/metrics-token``).
Without that file (or with a file others can read, which is refused and logged) only loopback scrapes. The
numbers are not personal data, but they show when doors open and how busy a site is, so the LAN does not get
them by default.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import stat
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)
TOKEN_FILE_NAME = "metrics-token"


def read_token(path: Path) -> str | None:
    """The scrape token in `path`, or None if there is none or the file is readable by others (logged)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_IMODE(mode) & 0o077:
        log.warning("%s is readable by others (mode %o): ignored; chmod 600 it", path, stat.S_IMODE(mode))
        return None
    token = path.read_text(encoding="utf-8").strip()
    return token or None


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


def may_scrape(request: web.Request, token_file: Path) -> bool:
    """True if this request may read /metrics (see the module docstring)."""
    if _loopback(request.remote):
        return True
    token = read_token(token_file)
    header = request.headers.get("Authorization", "")
    if token is None or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


def exposition(registry: CollectorRegistry) -> web.Response:
    """The registry in Prometheus text format."""
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def refused() -> web.Response:
    """The answer to a client that may not scrape."""
    return web.json_response(
        {"error": "forbidden", "detail": "metrics: scrape from loopback or send the bearer token"}, status=403
    )
