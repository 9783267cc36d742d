"""Who is asking: password login (rate-limited), the session cookie, CSRF checks and role checks."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.apikeys import API_KEYS
from cloud.appkeys import CONFIG
from cloud.db.models import User
from cloud.db.tenant_context import enter_tenant, reset_tenant, restore_tenant, system_context, tenant_context
from cloud.passwords import hash_password, needs_rehash, verify_password
from cloud.permissions import access_of
from cloud.responses import api_error, client_ip, is_api_request
from cloud.sessions import SESSION_COOKIE, SESSIONS
from cloud.tenancy import Principal
from sync.downlink import CONFIG_PATH, CONFIG_REPORT_PATH
from sync.media import MEDIA_PATH
from sync.rotation import ROTATE_PATH, SITE_STATUS_PATH
from sync.wire import ENROLL_PATH, HEALTH_PATH, SYNC_PATH
from webguard.csrf import csrf_matches
from webguard.login_throttle import KNOWN_CLIENT_COOKIE, KNOWN_CLIENT_MAX_AGE_S, LoginAttempt, LoginThrottle

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
API_LOGIN_PATH = "/api/v1/login"
API_LOGOUT_PATH = "/api/v1/logout"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Endpoints that never use the session cookie and so cannot be forged cross-site: boxes authenticate with
# an HMAC (sync) or a one-time code (enroll); the login endpoints check a password (the HTML form also
# carries its own double-submit token, the JSON one requires a JSON body, which needs a CORS preflight).
# Asking for a reset link needs no session; a forged request only mails the account's owner (rate-limited).
FORGOT_PASSWORD_PATH = "/forgot-password"
CSRF_EXEMPT_PATHS = frozenset(
    {SYNC_PATH, CONFIG_REPORT_PATH, ROTATE_PATH, ENROLL_PATH, LOGIN_PATH, API_LOGIN_PATH, FORGOT_PASSWORD_PATH}
)
# One-time links (invitation, password reset): the unguessable token in the path authorises the form.
SET_PASSWORD_PATH = "/set-password"
CSRF_EXEMPT_PREFIXES = (SET_PASSWORD_PATH + "/",)
MACHINE_PATHS = frozenset(
    {SYNC_PATH, CONFIG_PATH, CONFIG_REPORT_PATH, ROTATE_PATH, SITE_STATUS_PATH, ENROLL_PATH, HEALTH_PATH}
)
# Media chunks (sync.media) are signed like batches: no session, no CSRF token.
MACHINE_PREFIXES = (MEDIA_PATH + "/",)


def normalise_email(email: str) -> str:
    """Return the canonical (trimmed, lower-case) form of an e-mail address."""
    return email.strip().lower()


class Authenticator:
    """Check e-mail/password pairs against the argon2 hashes in the database."""

    def __init__(self, db: async_sessionmaker[AsyncSession], dummy_hash: str) -> None:
        self._db = db
        # Verified against when the e-mail is unknown, so both cases cost one argon2 verification.
        self._dummy_hash = dummy_hash

    @classmethod
    async def create(cls, db: async_sessionmaker[AsyncSession]) -> Authenticator:
        """Build an authenticator (hashes a throw-away password once)."""
        return cls(db, await hash_password(secrets.token_urlsafe(16)))

    async def authenticate(self, email: str, password: str) -> User | None:
        """Return the user if the password is right, else None."""
        with system_context():  # the e-mail names the tenant
            async with self._db() as session:
                user = await session.scalar(select(User).where(User.email == normalise_email(email)))
        if user is None:
            await verify_password(self._dummy_hash, password)
            return None
        if not await verify_password(user.password_hash, password) or user.disabled_at is not None:
            return None
        if needs_rehash(user.password_hash):
            new_hash = await hash_password(password)
            with tenant_context(user.tenant_id):
                async with self._db.begin() as session:
                    await session.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
        return user


AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
# Login attempts (see webguard.login_throttle).
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
# Set by the session middleware when the request carries a valid session cookie.
PRINCIPAL = web.RequestKey("principal", Principal)
# Set by a successful login: the known-client cookie to send with the session cookie.
KNOWN_CLIENT = web.RequestKey("known_client", str)


async def check_login(request: web.Request, email: str, password: str) -> User | None:
    """Return the user if the password is right, else None; raise RateLimited when over the limits.

    An attempt over a limit is refused before any password check (webguard.login_throttle: per client IP, IP and
    e-mail, and e-mail across IPs, except for a browser that logged in to this e-mail before, which counts on
    its own). A success clears the e-mail's counts (not the IP's) and leaves the known-client cookie to set.
    """
    throttle = request.app[LOGIN_THROTTLE]
    attempt = LoginAttempt(client_ip(request), normalise_email(email), request.cookies.get(KNOWN_CLIENT_COOKIE))
    throttle.attempt(attempt)
    user = await request.app[AUTHENTICATOR].authenticate(email, password)
    if user is not None:
        request[KNOWN_CLIENT] = throttle.succeeded(attempt)
    return user


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Attach the session cookie (HttpOnly, SameSite=Lax, Secure behind https) and the known-client cookie."""
    store = request.app[SESSIONS]
    secure = request.app[CONFIG].secure_cookies
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(store.ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )
    known_client = request.get(KNOWN_CLIENT)
    if known_client is not None:
        response.set_cookie(
            KNOWN_CLIENT_COOKIE,
            known_client,
            max_age=KNOWN_CLIENT_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=secure,
        )


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Revoke the request's session and clear its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[SESSIONS].revoke(token)
    response.del_cookie(SESSION_COOKIE, path="/")


def unauthenticated(request: web.Request) -> web.HTTPException:
    """Return the error for a request that needs a login: 401 JSON for the API, a redirect for pages."""
    if is_api_request(request):
        return api_error(web.HTTPUnauthorized, "unauthenticated", "log in first")
    return web.HTTPSeeOther(LOGIN_PATH)


def forbidden(request: web.Request, error: str, detail: str) -> web.HTTPException:
    """Return a 403 in the request's dialect (JSON for the API, text for pages)."""
    if is_api_request(request):
        return api_error(web.HTTPForbidden, error, detail)
    return web.HTTPForbidden(text=detail)


def require_principal(request: web.Request) -> Principal:
    """Return the logged-in user or raise 401/redirect."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is None:
        raise unauthenticated(request)
    return principal


def require_admin(request: web.Request) -> Principal:
    """Return the principal if it is a tenant owner or admin, else raise 403.

    Prefer declaring a permission on the route (`cloud.permissions.requires`); this remains for handlers that
    predate the role table.
    """
    principal = require_principal(request)
    if principal.role not in ("owner", "admin"):
        raise forbidden(request, "forbidden", "only tenant owners and admins can do this")
    return principal


def require_permission(request: web.Request, permission: str) -> Principal:
    """Return the principal if it holds `permission`, else raise 401/redirect or 403."""
    principal = require_principal(request)
    if not principal.can(permission):
        raise forbidden(request, "forbidden", f"this needs the {permission} permission")
    return principal


def _is_static(request: web.Request) -> bool:
    return isinstance(request.match_info.route.resource, web.StaticResource)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the route's declared access (cloud.permissions) before its handler runs: the one permission check.

    A route that declares nothing is refused (403), so a new route is closed until it says who may call it.
    """
    if getattr(request.match_info, "http_exception", None) is not None or _is_static(request):
        return await handler(request)  # no such route (404/405) or a static file
    access = access_of(request.match_info.route.handler)
    if access is None:
        log.error("route %s %s declares no access; refused", request.method, request.match_info.route.resource)
        raise forbidden(request, "undeclared_route", "this route declares no permission")
    if access.kind in ("public", "machine"):
        return await handler(request)
    if access.kind == "login":
        require_principal(request)
    elif access.permission is not None:
        require_permission(request, access.permission)
    return await handler(request)


async def _submitted_csrf_token(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@web.middleware
async def tenant_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Start every request with no tenant (nothing tenant-owned visible on PostgreSQL) and forget the tenant it
    acted for when it ends (requests on one keep-alive connection share a task)."""
    token = reset_tenant()
    try:
        return await handler(request)
    finally:
        restore_tenant(token)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session cookie (or, on the JSON API, an `Authorization: Bearer` API key) into
    `request[PRINCIPAL]`; demand a CSRF token on every unsafe request made with a session cookie."""
    if request.path in MACHINE_PATHS or request.path.startswith(MACHINE_PREFIXES):
        return await handler(request)
    bearer = _bearer_token(request) if is_api_request(request) else None
    if bearer is not None:
        # A key is sent deliberately by its holder (never ambient like a cookie): no CSRF token needed.
        key_principal = await request.app[API_KEYS].resolve(bearer)
        if key_principal is None:
            raise api_error(web.HTTPUnauthorized, "bad_api_key", "unknown, revoked or malformed API key")
        request[PRINCIPAL] = key_principal
        enter_tenant(key_principal.tenant_id)
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    principal = await request.app[SESSIONS].resolve(token) if token else None
    if principal is not None:
        request[PRINCIPAL] = principal
        enter_tenant(principal.tenant_id)
    exempt = request.path in CSRF_EXEMPT_PATHS or request.path.startswith(CSRF_EXEMPT_PREFIXES)
    if request.method not in SAFE_METHODS and not exempt:
        if principal is None:
            raise unauthenticated(request)
        submitted = await _submitted_csrf_token(request)
        if not csrf_matches(principal.csrf_token, submitted):
            log.warning(
                "CSRF token missing or wrong for %s %s (user %s)",
                request.method,
                request.path,
                principal.user_id,
            )
            raise forbidden(request, "csrf_failed", "missing or wrong CSRF token; reload the page and retry")
    return await handler(request)
