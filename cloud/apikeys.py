"""API keys for integrations: `Authorization: Bearer opk_<key id>_<secret>` on the JSON API.

The secret is 256 random bits, so a plain sha256 of it is stored (a slow hash adds nothing against guessing and
would cost every API call an argon2 verification). A key is scoped to permissions (a subset of its creator's)
and optionally to sites; it is shown once, can be revoked, and records when it was last used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.models import ApiKey, utcnow
from cloud.db.tenant_context import system_context, tenant_context
from cloud.permissions import PERMISSIONS
from cloud.tenancy import Principal

log = logging.getLogger(__name__)

TOKEN_PREFIX = "opk_"
_TOKEN_RE = re.compile(r"opk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
# last_used_at is written at most this often per key, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """The key cannot be created as asked (the message says why)."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the row and the token, which is shown once and never stored."""

    key: ApiKey
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tenant_keys(tenant_id: str) -> Select[ApiKey]:
    """Return a query of `tenant_id`'s API keys."""
    return select(ApiKey).where(ApiKey.tenant_id == tenant_id)


async def create_key(
    session: AsyncSession,
    creator: Principal,
    name: str,
    permissions: Iterable[str],
    site_ids: Iterable[str] | None,
) -> IssuedKey:
    """Create a key in the creator's tenant; it can hold only permissions and sites the creator has."""
    wanted = sorted(set(permissions))
    unknown = [p for p in wanted if p not in PERMISSIONS]
    if unknown:
        raise ApiKeyError(f"unknown permissions: {', '.join(unknown)}")
    if not wanted:
        raise ApiKeyError("choose at least one permission")
    beyond = [p for p in wanted if not creator.can(p)]
    if beyond:
        raise ApiKeyError(f"you cannot grant permissions you do not have: {', '.join(beyond)}")
    sites = None if site_ids is None else sorted(set(site_ids))
    if creator.site_ids is not None:
        if sites is None:
            sites = sorted(creator.site_ids)
        elif not set(sites) <= creator.site_ids:
            raise ApiKeyError("you cannot grant sites you do not have")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=creator.tenant_id,
        name=name,
        permissions=wanted,
        site_ids=sites,
        secret_hash=_digest(secret),
        created_by=creator.actor,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, token=f"{TOKEN_PREFIX}{key.key_id}_{secret}")


async def revoke_key(session: AsyncSession, tenant_id: str, key_id: int) -> ApiKey | None:
    """Revoke one of the tenant's keys (idempotent); None when the tenant has no such key."""
    key = await session.scalar(tenant_keys(tenant_id).where(ApiKey.id == key_id))
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


class ApiKeyStore:
    """Resolve bearer tokens into principals."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def resolve(self, token: str) -> Principal | None:
        """Return the principal of a live key, or None (malformed, unknown, wrong secret or revoked)."""
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        with system_context():  # the key names its tenant; nothing else is known yet
            async with self._db() as session:
                key = await session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
        if key is None or key.revoked_at is not None:
            return None
        if not hmac.compare_digest(key.secret_hash, _digest(secret)):
            return None
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            with tenant_context(key.tenant_id):
                async with self._db.begin() as session:
                    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        return Principal(
            tenant_id=key.tenant_id,
            email="",
            role="api-key",
            permissions=frozenset(key.permissions) & frozenset(PERMISSIONS),
            site_ids=None if key.site_ids is None else frozenset(key.site_ids),
            api_key_id=key.id,
            api_key_name=key.name,
        )


API_KEYS = web.AppKey("api_keys", ApiKeyStore)
