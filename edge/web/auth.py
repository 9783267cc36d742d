"""Console users, server-side sessions and CSRF protection.

The database holds neither token in clear: the session token only as its SHA-256, and the CSRF token not at all,
because it is derived from the session token (an HMAC of it), which only the browser's cookie carries.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select

from edge.storage.database import Database
from edge.storage.schema import console_sessions, console_users
from webguard.csrf import csrf_matches, derive_csrf_token

SESSION_COOKIE = "outpost_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
CSRF_LABEL = b"outpost console csrf v1"
_hasher = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class ConsoleSession:
    """A logged-in console session."""

    user_id: int
    username: str
    csrf_token: str

    def csrf_ok(self, token: str | None) -> bool:
        """Return True if `token` matches this session's CSRF token."""
        return csrf_matches(self.csrf_token, token)


SESSION = web.RequestKey("session", ConsoleSession)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _csrf_token(session_token: str) -> str:
    return derive_csrf_token(session_token, CSRF_LABEL)


class ConsoleAuth:
    """Creates users, checks passwords, issues and resolves session tokens."""

    def __init__(self, db: Database, session_hours: float) -> None:
        self._db = db
        self._lifetime = timedelta(hours=session_hours)

    async def user_count(self) -> int:
        """Return the number of console users."""
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(console_users))).scalar() or 0)

    async def create_user(self, username: str, password: str) -> None:
        """Create a console user with an argon2-hashed password."""
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        digest = await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)
        async with self._db.engine.begin() as conn:
            await conn.execute(
                insert(console_users).values(username=username, password_hash=digest, created_at=datetime.now(UTC))
            )

    async def login(self, username: str, password: str) -> tuple[str, ConsoleSession] | None:
        """Verify credentials; return (cookie token, session) or None."""
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(console_users).where(console_users.c.username == username))).first()
        stored = row.password_hash if row else _DUMMY_HASH
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(row.id, row.username, _csrf_token(token))
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < datetime.now(UTC)))
            await conn.execute(
                insert(console_sessions).values(
                    token_hash=_token_hash(token),
                    user_id=row.id,
                    expires_at=datetime.now(UTC) + self._lifetime,
                )
            )
        return token, session

    async def resolve(self, token: str | None) -> ConsoleSession | None:
        """Return the live session for a cookie token."""
        if not token:
            return None
        query = (
            select(
                console_sessions.c.expires_at,
                console_users.c.id,
                console_users.c.username,
            )
            .join(console_users, console_users.c.id == console_sessions.c.user_id)
            .where(console_sessions.c.token_hash == _token_hash(token))
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if expires < datetime.now(UTC):
            return None
        return ConsoleSession(row.id, row.username, _csrf_token(token))

    async def logout(self, token: str) -> None:
        """End a session."""
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _token_hash(token)))


CONSOLE_AUTH = web.AppKey("console_auth", ConsoleAuth)
