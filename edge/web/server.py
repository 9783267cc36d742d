"""Console routes: login, dashboard, JSON API; session and CSRF middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from pydantic import ValidationError

from edge import keys
from edge.storage.backup import last_backup
from edge.web import (
    api,
    cameras_view,
    devices_view,
    door_frames_view,
    doors_view,
    events_view,
    homeassistant_view,
    live,
    live_updates,
    muster_view,
    openapi,
    pairing_view,
    people_badges_view,
    people_import_view,
    people_view,
    rules_view,
    sync_view,
    system_view,
    users_view,
)
from edge.web.auth import CONSOLE_AUTH, CSRF_FIELD, CSRF_HEADER, SESSION, SESSION_COOKIE
from edge.web.forms import LoginForm
from edge.web.roles import allowed, can, required_role
from edge.web.site_time import site_time_filter
from observability.version import software_version
from webguard.headers import install_security_headers
from webguard.login_throttle import (
    KNOWN_CLIENT_COOKIE,
    KNOWN_CLIENT_MAX_AGE_S,
    LoginAttempt,
    LoginThrottle,
    RateLimited,
    load_or_create_key,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
# /metrics checks its own rule (loopback or bearer token: observability.scrape).
_PUBLIC = ("/login", "/static/", "/healthz", "/readyz", "/metrics")
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")  # a form's CSRF token is one of its fields

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)


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
            if token is None and request.content_type in _FORMS:
                token = str((await request.post()).get(CSRF_FIELD, ""))
            if not session.csrf_ok(token):
                return web.json_response({"error": "csrf_token_missing_or_wrong"}, status=403)
        if not allowed(session.role, request.method, request.path):
            return _forbidden(request, session.role)
        request[SESSION] = session
    return await handler(request)


def _forbidden(request: web.Request, role: str) -> web.StreamResponse:
    """403 for a request the user's role may not make (edge.web.roles), as JSON or as a page."""
    needed = required_role(request.method, request.path)
    detail = f"a {role} may not do this; it needs the {needed} role"
    if _wants_json(request) or request.method in _UNSAFE:
        return web.json_response({"error": "forbidden", "detail": detail}, status=403)
    context = {"site": request.app[keys.CONFIG].site, "detail": detail}
    return aiohttp_jinja2.render_template("forbidden.html", request, context, status=403)


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, object]:
    """Show the login form (with how to create the first user while there is none)."""
    no_users = await request.app[CONSOLE_AUTH].user_count() == 0
    return {"error": None, "site": request.app[keys.CONFIG].site, "no_users": no_users}


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password (rate-limited, see webguard.login_throttle) and start a session."""
    config = request.app[keys.CONFIG]
    data = await request.post()
    try:
        form = LoginForm.model_validate({k: str(v) for k, v in data.items()})
    except ValidationError:
        form = None
    attempt = LoginAttempt(
        ip=request.remote or "unknown",
        account=form.username if form else "",
        known_client=request.cookies.get(KNOWN_CLIENT_COOKIE),
    )
    throttle = request.app[LOGIN_THROTTLE]
    try:
        throttle.attempt(attempt)
    except RateLimited as err:
        log.warning("console login for %r from %s rate-limited", attempt.account, attempt.ip)
        minutes = -(-err.retry_after // 60)
        message = f"Too many login attempts; please wait {minutes} minute{'s' if minutes != 1 else ''}."
        limited = aiohttp_jinja2.render_template(
            "login.html", request, {"error": message, "site": config.site}, status=429
        )
        limited.headers["Retry-After"] = str(err.retry_after)
        return limited
    result = await request.app[CONSOLE_AUTH].login(form.username, form.password) if form else None
    if result is None:
        log.warning("console login failed for %r from %s", attempt.account or "?", attempt.ip)
        context = {"error": "Wrong username or password.", "site": config.site}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    token, _session = result
    redirect = web.HTTPSeeOther("/")
    # The known-client cookie goes to /login only: it is needed nowhere else.
    for name, value, path, max_age in (
        (SESSION_COOKIE, token, "/", int(config.web.session_hours * 3600)),
        (KNOWN_CLIENT_COOKIE, throttle.succeeded(attempt), "/login", KNOWN_CLIENT_MAX_AGE_S),
    ):
        redirect.set_cookie(
            name, value, httponly=True, samesite="Strict", secure=request.secure, path=path, max_age=max_age
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
    events = await request.app[keys.JOURNAL].recent(30)
    return {
        "site": config.site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "doors": list(state.doors.values()),
        "cameras": config.cameras,
        "events": events,
        "door_frames": door_frames_view.door_frame_links(events),
        "sync": await sync_view.sync_status(request.app),
        "software_version": software_version(),
        "last_backup": await asyncio.to_thread(last_backup, config.storage.data_dir),
        "home_assistant": homeassistant_view.home_assistant_status(request.app),
    }


# The console's own assets, listed once at start: a request names one of them or gets a 404, so no path from
# a client ever reaches the file system (a 5,000-character name made aiohttp's static route fail with a 500).
_STATIC_FILES = {path.name: path for path in (HERE / "static").iterdir() if path.is_file()}


async def static_file(request: web.Request) -> web.StreamResponse:
    """Serve one of the console's static assets."""
    path = _STATIC_FILES.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


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
    config = app[keys.CONFIG]
    app[LOGIN_THROTTLE] = LoginThrottle(
        load_or_create_key(config.storage.console_key_path), config.web.login_attempts, config.web.login_window_s
    )
    app_env = aiohttp_jinja2.get_env(app)
    app_env.globals["can"] = can
    app_env.filters["site_time"] = site_time_filter(config.site.timezone)
    app_env.filters["human_bytes"] = system_view.human_bytes
    install_security_headers(app, cacheable=lambda request: request.path.startswith("/static/"))
    app.middlewares.append(security_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", dashboard)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/static/{name}", static_file)
    api.add_routes(app)
    sync_view.add_routes(app)
    homeassistant_view.add_routes(app)
    live.add_routes(app)
    rules_view.add_routes(app)
    door_frames_view.add_routes(app)
    doors_view.add_routes(app)
    devices_view.add_routes(app)
    pairing_view.add_routes(app)
    events_view.add_routes(app)
    muster_view.add_routes(app)
    users_view.add_routes(app)
    people_import_view.add_routes(app)  # before people_view: /people/import is not a person
    people_view.add_routes(app)
    people_badges_view.add_routes(app)
    cameras_view.add_routes(app)
    system_view.add_routes(app)
    live_updates.install(app)
    openapi.add_routes(app)
