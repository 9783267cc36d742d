"""Typed keys of the services the composition root (`cloud.app`) puts on the application and requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloud.config import CloudConfig
from cloud.ratelimit import RateLimiter

if TYPE_CHECKING:
    from cloud.auth import Authenticator
    from cloud.sessions import SessionStore
    from cloud.tenancy import Principal

CONFIG = web.AppKey("config", CloudConfig)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
# Annotated rather than given a type argument: these classes import this module (import cycle).
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("authenticator")
# Attempts at the unauthenticated entry points: keyed by client IP and e-mail (login) or code (enrollment).
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
ENROLL_LIMITER = web.AppKey("enroll_limiter", RateLimiter)

# Set by the session middleware when the request carries a valid session cookie.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
