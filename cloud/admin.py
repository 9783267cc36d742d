"""Tenant administration used by the CLI and by demos: tenants, users, enrollment codes, site revocation.

These act for the operator, across tenants (`system_context`), like the command line they serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.auth import normalise_email
from cloud.db.models import Site, Tenant, User
from cloud.db.tenant_context import system_context
from cloud.enrollment import DEFAULT_TTL, IssuedCode, issue_code
from cloud.passwords import MIN_PASSWORD_LENGTH, hash_password
from cloud.permissions import ROLES
from cloud.tenancy import SiteAlreadyRevoked, SiteNotFound, revoke_site


class AdminError(Exception):
    """An administrative request cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class BootstrapResult:
    """What `bootstrap_tenant` did."""

    tenant_id: str
    created_tenant: bool
    created_admin: bool
    enrollment: IssuedCode | None


async def _ensure_user(
    session: AsyncSession, tenant_id: str, email: str, password: str, role: str
) -> tuple[User, bool]:
    if role not in ROLES:
        raise AdminError(f"role must be one of {', '.join(ROLES)}")
    email = normalise_email(email)
    if "@" not in email:
        raise AdminError(f"{email!r} is not an e-mail address")
    user = await session.scalar(select(User).where(User.email == email))
    if user is not None:
        if user.tenant_id != tenant_id:
            raise AdminError(f"{email} already belongs to another tenant")
        return user, False
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = User(tenant_id=tenant_id, email=email, password_hash=await hash_password(password), role=role)
    session.add(user)
    await session.flush()
    return user, True


async def create_user(
    db: async_sessionmaker[AsyncSession], tenant_id: str, email: str, password: str, role: str = "viewer"
) -> User:
    """Add a user to an existing tenant (an existing user of that tenant is returned unchanged)."""
    with system_context():  # the operator's command line acts across tenants
        async with db.begin() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise AdminError(f"unknown tenant {tenant_id!r}")
            user, _ = await _ensure_user(session, tenant_id, email, password, role)
    return user


async def bootstrap_tenant(
    db: async_sessionmaker[AsyncSession],
    tenant_name: str,
    admin_email: str,
    admin_password: str,
    site_name: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
    timezone: str = "UTC",
) -> BootstrapResult:
    """Create the tenant and its admin if missing; with `site_name`, also issue an enrollment code."""
    tenant_name = tenant_name.strip()
    if not tenant_name:
        raise AdminError("tenant name must not be blank")
    with system_context():  # the operator's command line acts across tenants
        async with db.begin() as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.name == tenant_name))
            created_tenant = tenant is None
            if tenant is None:
                tenant = Tenant(name=tenant_name)
                session.add(tenant)
                await session.flush()
            _, created_admin = await _ensure_user(session, tenant.id, admin_email, admin_password, "owner")
            enrollment = await _issue(session, tenant.id, site_name, ttl, timezone) if site_name else None
    return BootstrapResult(
        tenant_id=tenant.id, created_tenant=created_tenant, created_admin=created_admin, enrollment=enrollment
    )


async def create_enrollment_code(
    db: async_sessionmaker[AsyncSession],
    tenant_id: str,
    site_name: str,
    ttl: timedelta = DEFAULT_TTL,
    timezone: str = "UTC",
) -> IssuedCode:
    """Issue a one-time enrollment code for a new site of `tenant_id`."""
    with system_context():  # the operator's command line acts across tenants
        async with db.begin() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise AdminError(f"unknown tenant {tenant_id!r}")
            return await _issue(session, tenant_id, site_name, ttl, timezone)


async def revoke_tenant_site(db: async_sessionmaker[AsyncSession], tenant_id: str, site_id: str, by: str) -> Site:
    """Revoke site `site_id` of tenant `tenant_id`, recording `by` as who did it."""
    by = by.strip()
    if not by:
        raise AdminError("who revokes (--by) must not be blank")
    with system_context():  # the operator's command line acts across tenants
        async with db.begin() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise AdminError(f"unknown tenant {tenant_id!r}")
            try:
                return await revoke_site(session, tenant_id, site_id, by=by[:320])
            except SiteNotFound as err:
                raise AdminError(f"tenant {tenant_id!r} has no site {site_id!r}") from err
            except SiteAlreadyRevoked as err:
                raise AdminError(str(err)) from err


async def _issue(session: AsyncSession, tenant_id: str, site_name: str, ttl: timedelta, timezone: str) -> IssuedCode:
    site_name = site_name.strip()
    if not site_name:
        raise AdminError("site name must not be blank")
    try:
        return await issue_code(session, tenant_id, site_name, ttl=ttl, timezone=timezone)
    except ValueError as err:
        raise AdminError(str(err)) from err
