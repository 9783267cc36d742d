"""Self-service password reset: a user asks for a reset link by e-mail (only when an SMTP server is configured).

The answer is the same whether or not the address has an account, and the lookup and mail run in the background
after the answer, so neither the page nor its timing tells who has an account. Requests count against the login
limits (webguard.login_throttle). The link is the same one-time, expiring link an admin can issue
(`cloud.users`); the request is in the tenant's audit log as `user.reset_requested`.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from cloud import users
from cloud.admin_forms import EMAIL_PATTERN
from cloud.appkeys import CONFIG, DB
from cloud.auth import FORGOT_PASSWORD_PATH, LOGIN_THROTTLE, normalise_email
from cloud.config import SmtpSettings
from cloud.db.models import AuditEntry, User, utcnow
from cloud.db.tenant_context import system_context, tenant_context
from cloud.mailer import MailError, send_mail
from cloud.permissions import public
from cloud.responses import client_ip
from cloud.tenancy import Principal
from webguard.login_throttle import LoginAttempt
from webguard.ratelimit import RateLimited

log = logging.getLogger(__name__)

FORGOT_PATH = FORGOT_PASSWORD_PATH
SELF_SERVICE = "self-service"


class ForgotForm(BaseModel):
    """The e-mail address a reset link is asked for."""

    model_config = ConfigDict(str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)


PENDING = web.AppKey("forgot_password_pending", set[asyncio.Task[None]])


def _render(request: web.Request, sent: bool = False, error: str = "", status: int = 200) -> web.Response:
    context = {"principal": None, "smtp": request.app[CONFIG].smtp is not None, "sent": sent, "error": error}
    return aiohttp_jinja2.render_template("forgot_password.html", request, context, status=status)


@public
async def handle_forgot_page(request: web.Request) -> web.Response:
    """GET /forgot-password: ask for a reset link (or, without SMTP, ask an administrator)."""
    return _render(request)


@public
async def handle_forgot(request: web.Request) -> web.Response:
    """POST /forgot-password: mail a reset link if the address has an active account; the same answer either way."""
    smtp = request.app[CONFIG].smtp
    if smtp is None:
        return _render(request, status=404)
    form = await request.post()
    try:
        body = ForgotForm.model_validate({"email": str(form.get("email", ""))})
    except ValidationError:
        return _render(request, error="Enter an e-mail address.", status=400)
    email = normalise_email(body.email)
    try:
        request.app[LOGIN_THROTTLE].attempt(LoginAttempt(client_ip(request), email, None))
    except RateLimited as err:
        response = _render(request, error="Too many requests; please try again later.", status=429)
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    base = request.app[CONFIG].public_url or f"{request.scheme}://{request.host}"
    where = (client_ip(request)[:64], request.headers.get("User-Agent", "")[:300])
    task = asyncio.create_task(_send_link(request.app, smtp, email, base.rstrip("/"), where))
    pending = request.app[PENDING]
    pending.add(task)
    task.add_done_callback(pending.discard)
    return _render(request, sent=True)


async def _send_link(app: web.Application, smtp: SmtpSettings, email: str, base: str, where: tuple[str, str]) -> None:
    db = app[DB]
    try:
        with system_context():  # the e-mail names the tenant
            async with db() as session:
                user = await session.scalar(select(User).where(User.email == email))
        if user is None or user.disabled_at is not None or not user.password_hash:
            return
        actor = Principal(tenant_id=user.tenant_id, email=SELF_SERVICE, role=user.role, permissions=frozenset())
        with tenant_context(user.tenant_id):
            async with db.begin() as session:
                link = await users.reissue_link(session, actor, user.id)
                session.add(
                    AuditEntry(
                        tenant_id=user.tenant_id,
                        at=utcnow(),
                        actor=user.email,
                        action="user.reset_requested",
                        target=user.email,
                        detail={},
                        ip=where[0],
                        user_agent=where[1],
                    )
                )
        body = (
            "Someone (hopefully you) asked to reset your Outpost Cloud password. Open this link to choose a new "
            f"one (it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{base}{link.path}\n\n"
            "If it was not you, ignore this message: your password stays as it is.\n"
        )
        await send_mail(smtp, email, "Reset your Outpost password", body)
    except (MailError, users.UserAdminError):
        log.warning("self-service reset link for %s not sent", email)
    except Exception:  # a background task: log, never lose the error silently
        log.exception("self-service reset for %s failed", email)


async def _drain(app: web.Application) -> None:
    tasks: set[asyncio.Task[None]] = app[PENDING]
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def install(app: web.Application) -> None:
    """Register the pages; mails still being sent finish before the app shuts down."""
    pending: set[asyncio.Task[None]] = set()
    app[PENDING] = pending
    app.on_shutdown.append(_drain)
    app.router.add_get(FORGOT_PATH, handle_forgot_page)
    app.router.add_post(FORGOT_PATH, handle_forgot)
