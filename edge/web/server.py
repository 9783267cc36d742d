"""Console routes: login, dashboard, JSON API; session and CSRF middleware."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.web import api, live, sync_view
from edge.web.auth import CONSOLE_AUTH, CSRF_FIELD, CSRF_HEADER, SESSION, SESSION_COOKIE
from edge.web.forms import LoginForm

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
_PUBLIC = ("/login", "/static/", "/healthz")
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a session (except public paths) and a CSRF token on every unsafe request."""
    if request.method in _UNSAFE:
        origin = request.headers.get("Origin")
        if origin and origin != f"{request.scheme}://{request.host}":
            return web.json_response({"error": "cross_origin"}, status=403)
    if not request.path.startswith(_PUBLIC):
        auth = request.app[CONSOLE_AUTH]
        session = await auth.resolve(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if _wants_json(request):
                return web.json_response({"error": "unauthenticated"}, status=401)
            raise web.HTTPSeeOther("/login")
        if request.method in _UNSAFE:
            token = request.headers.get(CSRF_HEADER)
            if token is None and request.content_type == "application/x-www-form-urlencoded":
                token = str((await request.post()).get(CSRF_FIELD, ""))
            if not session.csrf_ok(token):
                return web.json_response({"error": "csrf_token_missing_or_wrong"}, status=403)
        request[SESSION] = session
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _harden(exc)
        raise
    _harden(response)
    return response


def _harden(response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    )


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, object]:
    """Show the login form."""
    return {"error": None, "site": request.app[keys.CONFIG].site}


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password and start a session."""
    data = await request.post()
    try:
        form = LoginForm.model_validate({k: str(v) for k, v in data.items()})
    except ValidationError:
        form = None
    result = await request.app[CONSOLE_AUTH].login(form.username, form.password) if form else None
    if result is None:
        log.warning("console login failed for %r from %s", form.username if form else "?", request.remote)
        context = {"error": "Wrong username or password.", "site": request.app[keys.CONFIG].site}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    token, _session = result
    redirect = web.HTTPSeeOther("/")
    redirect.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(request.app[keys.CONFIG].web.session_hours * 3600),
    )
    raise redirect


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[CONSOLE_AUTH].logout(token)
    redirect = web.HTTPSeeOther("/login")
    redirect.del_cookie(SESSION_COOKIE, path="/")
    raise redirect


@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, object]:
    """The guard's dashboard: doors, cameras, recent events."""
    config = request.app[keys.CONFIG]
    state = request.app[keys.SITE_STATE]
    return {
        "site": config.site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "doors": list(state.doors.values()),
        "cameras": config.cameras,
        "events": await request.app[keys.JOURNAL].recent(30),
        "sync": await sync_view.sync_status(request.app),
    }


async def healthz(_request: web.Request) -> web.StreamResponse:
    """Liveness probe."""
    return web.json_response({"ok": True})


def build_console(app: web.Application) -> None:
    """Attach templates, middleware and routes to the edge application."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.middlewares.append(security_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", dashboard)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", HERE / "static")
    api.add_routes(app)
    sync_view.add_routes(app)
    live.add_routes(app)
