"""Server-side login sessions: a random cookie token, stored only as a keyed digest.

The session's CSRF token is not stored at all: it is derived from the cookie token (webguard.csrf), so a copy of
the `sessions` table yields neither a usable cookie nor a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.config import CloudConfig
from cloud.db.models import User, UserSession, utcnow
from cloud.db.tenant_context import system_context
from cloud.permissions import permissions_of
from cloud.tenancy import Principal
from webguard.csrf import derive_csrf_token

log = logging.getLogger(__name__)

SESSION_COOKIE = "outpost_session"
SESSION_TTL = timedelta(hours=12)
SECRET_BYTES = 32
CSRF_LABEL = b"outpost portal csrf v1"


SESSION_CREDENTIAL = "session-secret"
"""The systemd credential (`LoadCredential=session-secret:...` in systemd/outpost-cloud.service) read at start."""


def session_secret_path(config: CloudConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Where the session secret comes from: `session_secret_file`, else the systemd credential
    `$CREDENTIALS_DIRECTORY/session-secret` if the service was given one, else `<data_dir>/session_secret`."""
    if config.session_secret_file is not None:
        return config.session_secret_file
    credentials = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY")
    if credentials:
        credential = Path(credentials) / SESSION_CREDENTIAL
        if credential.is_file():
            return credential
    return config.data_dir / "session_secret"


def load_session_secret(config: CloudConfig, environ: Mapping[str, str] | None = None) -> bytes:
    """Read the session secret (see `session_secret_path`), creating `<data_dir>/session_secret` (mode 0600) on
    first start when nothing else provides one."""
    path = session_secret_path(config, environ)
    generated = config.session_secret_file is None and path == config.data_dir / "session_secret"
    if generated and not path.exists():
        _create_secret_file(path)
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise ValueError(f"session secret in {path} is shorter than 16 bytes")
    return secret


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
    log.info("generated a session secret in %s", path)


class SessionStore:
    """Create, resolve and revoke sessions in the database."""

    def __init__(self, db: async_sessionmaker[AsyncSession], secret: bytes, ttl: timedelta = SESSION_TTL):
        self._db = db
        self._secret = secret
        self.ttl = ttl

    def _digest(self, token: str) -> str:
        # Keyed, so a copy of the database alone cannot be matched against captured cookies.
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    async def create(self, user_id: int) -> str:
        """Start a session for `user_id` and return the cookie token."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with system_context():
            await self._insert(token, user_id, now)
        return token

    async def _insert(self, token: str, user_id: int, now: datetime) -> None:
        async with self._db.begin() as session:
            # Housekeeping on login rather than in a background task: sessions expire at most 12 h late.
            await session.execute(delete(UserSession).where(UserSession.expires_at < now))
            session.add(
                UserSession(
                    token_digest=self._digest(token),
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + self.ttl,
                )
            )

    async def resolve(self, token: str) -> Principal | None:
        """Return the principal of a live session, or None."""
        query = (
            select(User.id, User.tenant_id, User.email, User.role, User.site_ids)
            .select_from(UserSession)
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.token_digest == self._digest(token),
                UserSession.expires_at > utcnow(),
                User.disabled_at.is_(None),
            )
        )
        with system_context():  # the session names its tenant
            async with self._db() as session:
                row = (await session.execute(query)).first()
        if row is None:
            return None
        return Principal(
            user_id=row.id,
            tenant_id=row.tenant_id,
            email=row.email,
            role=row.role,
            permissions=permissions_of(row.role),
            site_ids=None if row.site_ids is None else frozenset(row.site_ids),
            csrf_token=derive_csrf_token(token, CSRF_LABEL),
        )

    async def revoke(self, token: str) -> None:
        """End the session of `token` (no error if it is already gone)."""
        async with self._db.begin() as session:
            await session.execute(delete(UserSession).where(UserSession.token_digest == self._digest(token)))

    async def end_user_sessions(self, session: AsyncSession, user_id: int) -> None:
        """End every session of a user (disabled, role changed, password reset); the caller commits."""
        await session.execute(delete(UserSession).where(UserSession.user_id == user_id))


SESSIONS = web.AppKey("sessions", SessionStore)
