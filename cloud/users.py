"""Users of a tenant: invitations, roles and site limits, disabling, and one-time password links.

An invitation creates the user without a password and a one-time link (`/set-password/<token>`) that sets it;
a password reset is the same kind of link for an existing user. Only the sha256 of a link's token is stored;
a link works once and expires. Changing a user's role or sites, disabling them or resetting their password ends
their sessions. Only owners may grant, change or take away the owner role, and a tenant always keeps one active
owner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.auth import normalise_email
from cloud.db.models import Site, User, UserSession, UserToken, utcnow
from cloud.db.tenant_context import system_context, tenant_context
from cloud.passwords import MIN_PASSWORD_LENGTH, hash_password
from cloud.permissions import ROLES, may_grant
from cloud.tenancy import Principal, tenant_sites

SET_PASSWORD_PATH = "/set-password"
INVITE_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=24)


class UserAdminError(ValueError):
    """The change cannot be made (the message says why, for the admin)."""


class UserNotFound(LookupError):
    """No such user in the tenant."""


@dataclass(frozen=True)
class IssuedLink:
    """A one-time link just issued: the token is shown (or mailed) once and never stored."""

    email: str
    purpose: str
    token: str
    expires_at: datetime

    @property
    def path(self) -> str:
        """The link's path on the cloud (prefix it with the public URL)."""
        return f"{SET_PASSWORD_PATH}/{self.token}"


def token_hash(token: str) -> str:
    """The stored form of a link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def tenant_users(tenant_id: str) -> Select[User]:
    """Return a query of `tenant_id`'s users."""
    return select(User).where(User.tenant_id == tenant_id)


async def list_users(session: AsyncSession, tenant_id: str) -> list[User]:
    """The tenant's users by e-mail."""
    return list(await session.scalars(tenant_users(tenant_id).order_by(User.email)))


async def find_user(session: AsyncSession, tenant_id: str, user_id: int) -> User:
    """One of the tenant's users, or UserNotFound."""
    user = await session.scalar(tenant_users(tenant_id).where(User.id == user_id))
    if user is None:
        raise UserNotFound(user_id)
    return user


async def _check_sites(session: AsyncSession, actor: Principal, site_ids: Iterable[str] | None) -> list[str] | None:
    if site_ids is None:
        if actor.site_ids is not None:
            raise UserAdminError("you are limited to some sites, so you can only give access to those sites")
        return None
    wanted = sorted(set(site_ids))
    if not wanted:
        raise UserAdminError("choose at least one site, or all sites")
    owned = set(await session.scalars(tenant_sites(actor.tenant_id).with_only_columns(Site.id)))
    unknown = [s for s in wanted if s not in owned]
    if unknown:
        raise UserAdminError(f"no such site: {', '.join(unknown)}")
    if actor.site_ids is not None and not set(wanted) <= actor.site_ids:
        raise UserAdminError("you can only give access to sites you have")
    return wanted


def _check_role(actor: Principal, role: str) -> None:
    if role not in ROLES:
        raise UserAdminError(f"role must be one of {', '.join(ROLES)}")
    if not may_grant(actor.role, role):
        raise UserAdminError("only an owner can grant the owner role")


async def _active_owners(session: AsyncSession, tenant_id: str) -> int:
    query = select(func.count()).where(User.tenant_id == tenant_id, User.role == "owner", User.disabled_at.is_(None))
    return await session.scalar(query) or 0


async def _guard_owner(session: AsyncSession, actor: Principal, user: User) -> None:
    """Refuse a change to an owner by a non-owner, and one that would leave the tenant without an owner."""
    if user.role != "owner":
        return
    if actor.role != "owner":
        raise UserAdminError("only an owner can change an owner")
    if user.disabled_at is None and await _active_owners(session, user.tenant_id) <= 1:
        raise UserAdminError("the tenant needs at least one active owner")


async def _issue(session: AsyncSession, actor: Principal, user: User, purpose: str, ttl: timedelta) -> IssuedLink:
    now = utcnow()
    # An older unused link of the same kind stops working: only the newest one is valid.
    await session.execute(
        update(UserToken)
        .where(UserToken.user_id == user.id, UserToken.purpose == purpose, UserToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        UserToken(
            tenant_id=user.tenant_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash(token),
            created_by=actor.actor,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return IssuedLink(email=user.email, purpose=purpose, token=token, expires_at=now + ttl)


async def invite(
    session: AsyncSession, actor: Principal, email: str, role: str, site_ids: Iterable[str] | None
) -> IssuedLink:
    """Create a user without a password and return their invitation link (the caller commits)."""
    email = normalise_email(email)
    _check_role(actor, role)
    sites = await _check_sites(session, actor, site_ids)
    with system_context():  # e-mail addresses are unique across tenants
        taken = await session.scalar(select(func.count()).where(User.email == email))
    if taken:
        raise UserAdminError(f"{email} already has an account")
    user = User(tenant_id=actor.tenant_id, email=email, password_hash="", role=role, site_ids=sites)
    session.add(user)
    await session.flush()
    return await _issue(session, actor, user, "invite", INVITE_TTL)


async def reissue_link(session: AsyncSession, actor: Principal, user_id: int) -> IssuedLink:
    """A new link for a user: an invitation again if they never set a password, else a password reset."""
    user = await find_user(session, actor.tenant_id, user_id)
    await _guard_owner_reset(actor, user)
    if not user.password_hash:
        return await _issue(session, actor, user, "invite", INVITE_TTL)
    return await _issue(session, actor, user, "reset", RESET_TTL)


async def _guard_owner_reset(actor: Principal, user: User) -> None:
    if user.role == "owner" and actor.role != "owner":
        raise UserAdminError("only an owner can reset an owner's password")


async def _end_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(UserSession).where(UserSession.user_id == user_id))


async def change_user(
    session: AsyncSession, actor: Principal, user_id: int, role: str, site_ids: Iterable[str] | None
) -> User:
    """Set a user's role and sites; their sessions end so the change applies at once (the caller commits)."""
    user = await find_user(session, actor.tenant_id, user_id)
    _check_role(actor, role)
    sites = await _check_sites(session, actor, site_ids)
    if role != "owner":
        await _guard_owner(session, actor, user)
    if user.role == role and user.site_ids == sites:
        return user
    user.role, user.site_ids = role, sites
    await _end_sessions(session, user.id)
    return user


async def set_disabled(session: AsyncSession, actor: Principal, user_id: int, disabled: bool) -> User:
    """Disable a user (their sessions end, they cannot log in) or enable them again (the caller commits)."""
    user = await find_user(session, actor.tenant_id, user_id)
    if disabled:
        if user.id == actor.user_id:
            raise UserAdminError("you cannot disable yourself")
        await _guard_owner(session, actor, user)
        if user.disabled_at is None:
            user.disabled_at = utcnow()
        await _end_sessions(session, user.id)
    else:
        if user.role == "owner" and actor.role != "owner":
            raise UserAdminError("only an owner can change an owner")
        user.disabled_at = None
    return user


@dataclass(frozen=True)
class LinkTarget:
    """Who a valid link is for."""

    token_id: int
    tenant_id: str
    user_id: int
    email: str
    purpose: str


async def find_link(db: async_sessionmaker[AsyncSession], token: str) -> LinkTarget | None:
    """The user a link is for, if the link is unused, unexpired and its user not disabled; else None."""
    query = (
        select(UserToken.id, UserToken.tenant_id, UserToken.user_id, UserToken.purpose, User.email)
        .join(User, User.id == UserToken.user_id)
        .where(
            UserToken.token_hash == token_hash(token),
            UserToken.used_at.is_(None),
            UserToken.expires_at > utcnow(),
            User.disabled_at.is_(None),
        )
    )
    with system_context():  # the link names its tenant
        async with db() as session:
            row = (await session.execute(query)).first()
    if row is None:
        return None
    return LinkTarget(row.id, row.tenant_id, row.user_id, row.email, row.purpose)


async def use_link(db: async_sessionmaker[AsyncSession], token: str, password: str) -> LinkTarget | None:
    """Set the password through a link, once; ends the user's other sessions. None when the link is not valid."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserAdminError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    target = await find_link(db, token)
    if target is None:
        return None
    new_hash = await hash_password(password)
    with tenant_context(target.tenant_id):
        async with db.begin() as session:
            # Claimed by one conditional UPDATE: two submissions of the same link cannot both set a password.
            claimed = (
                await session.execute(
                    update(UserToken)
                    .where(UserToken.id == target.token_id, UserToken.used_at.is_(None))
                    .values(used_at=utcnow())
                    .returning(UserToken.id)
                )
            ).first()
            if claimed is None:
                return None
            await session.execute(update(User).where(User.id == target.user_id).values(password_hash=new_hash))
            await _end_sessions(session, target.user_id)
    return target
