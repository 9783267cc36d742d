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
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.storage.database import Database
from edge.storage.schema import console_sessions, console_users
from edge.web.roles import ROLES, Role
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
    role: str = "viewer"

    def csrf_ok(self, token: str | None) -> bool:
        """Return True if `token` matches this session's CSRF token."""
        return csrf_matches(self.csrf_token, token)


SESSION = web.RequestKey("session", ConsoleSession)


@dataclass(frozen=True)
class ConsoleUser:
    """A console user as the users page lists it (never the password hash)."""

    id: int
    username: str
    role: str
    created_at: datetime


class UserExists(ValueError):
    """A console user with that name exists already."""


class UnknownUser(LookupError):
    """No console user has that id."""


class LastAdmin(ValueError):
    """The change would leave the console without an admin."""


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

    async def create_user(self, username: str, password: str, role: Role = "admin") -> None:
        """Create a console user with an argon2-hashed password; UserExists if the name is taken."""
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        digest = await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)
        async with self._db.engine.begin() as conn:
            taken = (await conn.execute(select(console_users.c.id).where(console_users.c.username == username))).first()
            if taken is not None:
                raise UserExists(username)
            await conn.execute(
                insert(console_users).values(
                    username=username, password_hash=digest, created_at=datetime.now(UTC), role=role
                )
            )

    async def list_users(self) -> list[ConsoleUser]:
        """Every console user, by name."""
        query = select(console_users.c.id, console_users.c.username, console_users.c.role, console_users.c.created_at)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(console_users.c.username))).all()
        return [ConsoleUser(r.id, r.username, r.role, r.created_at) for r in rows]

    async def set_role(self, user_id: int, role: Role) -> ConsoleUser:
        """Change a user's role (effective on their next request); LastAdmin if it would leave no admin."""
        async with self._db.engine.begin() as conn:
            user = await self._user(conn, user_id)
            if user.role == "admin" and role != "admin":
                await self._keep_an_admin(conn)
            await conn.execute(update(console_users).where(console_users.c.id == user_id).values(role=role))
        return ConsoleUser(user.id, user.username, role, user.created_at)

    async def delete_user(self, user_id: int) -> ConsoleUser:
        """Remove a user and end their sessions; LastAdmin if it would leave no admin."""
        async with self._db.engine.begin() as conn:
            user = await self._user(conn, user_id)
            if user.role == "admin":
                await self._keep_an_admin(conn)
            await conn.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))
            await conn.execute(delete(console_users).where(console_users.c.id == user_id))
        return user

    @staticmethod
    async def _user(conn: AsyncConnection, user_id: int) -> ConsoleUser:
        query = select(console_users.c.id, console_users.c.username, console_users.c.role, console_users.c.created_at)
        row = (await conn.execute(query.where(console_users.c.id == user_id))).first()
        if row is None:
            raise UnknownUser(str(user_id))
        return ConsoleUser(row.id, row.username, row.role, row.created_at)

    @staticmethod
    async def _keep_an_admin(conn: AsyncConnection) -> None:
        admins = select(func.count()).select_from(console_users).where(console_users.c.role == "admin")
        if int((await conn.execute(admins)).scalar() or 0) <= 1:
            raise LastAdmin("the console must keep at least one admin")

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
        session = ConsoleSession(row.id, row.username, _csrf_token(token), row.role)
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
                console_users.c.role,
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
        return ConsoleSession(row.id, row.username, _csrf_token(token), row.role)

    async def logout(self, token: str) -> None:
        """End a session."""
        async with self._db.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _token_hash(token)))


CONSOLE_AUTH = web.AppKey("console_auth", ConsoleAuth)
