"""Typed keys of what the composition root (`cloud.app`) itself puts on the application: config and database.

Keys of other services live with the component that owns them: `sessions.SESSIONS`, `auth.AUTHENTICATOR`,
`auth.LOGIN_THROTTLE`, `auth.PRINCIPAL` (a request key), `enrollment.ENROLL_LIMITER`.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cloud.config import CloudConfig

CONFIG = web.AppKey("config", CloudConfig)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
