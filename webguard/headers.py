"""Security headers on every response of an aiohttp application, errors and redirects included.

Installed as an `on_response_prepare` hook rather than a middleware: the hook also sees the answers that
never pass through a handler's return (aiohttp's own 404/405/413, responses raised as exceptions, and
answers produced by middlewares that run before this one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

# A page may load only its own scripts, styles and images, never be framed, and never post elsewhere.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def security_headers(csp: str = DEFAULT_CSP) -> dict[str, str]:
    """Return the headers every response carries."""
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def install_security_headers(
    app: web.Application,
    *,
    csp: str = DEFAULT_CSP,
    cacheable: Callable[[web.BaseRequest], bool] = lambda _request: False,
) -> None:
    """Add the security headers to every response of `app`, and ``Cache-Control: no-store`` unless cacheable.

    Everything behind a login may hold personal data, so only what `cacheable` names (static assets) may be
    kept by browsers and proxies; a handler that sets its own Cache-Control keeps it.
    """
    fixed: Mapping[str, str] = security_headers(csp)

    async def _on_prepare(request: web.BaseRequest, response: web.StreamResponse) -> None:
        for name, value in fixed.items():
            response.headers.setdefault(name, value)
        if not cacheable(request):
            response.headers.setdefault("Cache-Control", "no-store")

    app.on_response_prepare.append(_on_prepare)
