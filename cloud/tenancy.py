"""Tenant isolation in one place.

Every query of tenant-owned data (sites, records, enrollment codes and files, and the HQ-managed configuration:
people, badges, site policies, conflicts) made on behalf of a logged-in user goes
through `TenantScope`, whose queries all start from `tenant_sites()`: the only place that filters by tenant.
The command line acts for a tenant named on it through the same functions (`revoke_site`).
A site of another tenant is indistinguishable from a missing one (`SiteNotFound`, answered as 404).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, Select, Table, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import ConfigConflict, Person, Record, Site, SitePolicy, SiteSyncState, utcnow
from cloud.enrollment import IssuedCode, issue_code
from cloud.offline_enrollment import issue_enrollment_file, pending_offline_sites
from sync.enrollment_file import EnrollmentFile

log = logging.getLogger(__name__)

RECENT_WINDOW = timedelta(hours=24)


class SiteNotFound(LookupError):
    """No site with this id in the user's tenant."""


class SiteAlreadyRevoked(Exception):
    """The site was revoked before; the first revocation (who, when) is kept."""

    def __init__(self, site: Site) -> None:
        revoked_at = f"{site.revoked_at:%Y-%m-%d %H:%M} UTC" if site.revoked_at else "an unknown time"
        super().__init__(f"site {site.id} was already revoked at {revoked_at} by {site.revoked_by}")
        self.site = site


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a logged-in user (session) or an API key (`Authorization: Bearer`).

    `permissions` come from the role table (cloud.permissions) or, for a key, its scope; `site_ids` limits the
    principal to those of the tenant's sites (None: all of them).
    """

    tenant_id: str
    email: str
    role: str
    permissions: frozenset[str]
    site_ids: frozenset[str] | None = None
    csrf_token: str = ""
    user_id: int | None = None
    api_key_id: int | None = None
    api_key_name: str = ""

    @property
    def actor(self) -> str:
        """How the audit log and revocations name this principal."""
        return self.email if self.api_key_id is None else f"api-key:{self.api_key_name}"

    def can(self, permission: str) -> bool:
        """Whether the principal holds `permission`."""
        return permission in self.permissions


@dataclass(frozen=True)
class KindCounts:
    """How many records of one kind a site has, in total and in the recent window."""

    total: int
    recent: int


def tenant_sites(tenant_id: str) -> Select[Site]:
    """Return a query of the sites `tenant_id` owns: the one tenant filter of site data."""
    return select(Site).where(Site.tenant_id == tenant_id)


def tenant_people(tenant_id: str) -> Select[Person]:
    """Return a query of the people `tenant_id` owns (removed ones included)."""
    return select(Person).where(Person.tenant_id == tenant_id)


def tenant_policies(tenant_id: str) -> Select[SitePolicy]:
    """Return a query of the site policies (levels, schedules, holidays, doors) `tenant_id` owns."""
    return select(SitePolicy).where(SitePolicy.tenant_id == tenant_id)


def tenant_conflicts(tenant_id: str) -> Select[ConfigConflict]:
    """Return a query of the reconciliation conflicts of `tenant_id`'s sites."""
    return select(ConfigConflict).where(ConfigConflict.tenant_id == tenant_id)


def scoped_sites(principal: Principal) -> Select[Site]:
    """Return a query of the sites the principal may see: its tenant's, limited to its `site_ids` if set."""
    query = tenant_sites(principal.tenant_id)
    if principal.site_ids is not None:
        query = query.where(Site.id.in_(sorted(principal.site_ids)))
    return query


async def revoke_site(session: AsyncSession, tenant_id: str, site_id: str, by: str) -> Site:
    """Revoke a site of `tenant_id` (the caller commits): it can no longer sync, its secret is replaced.

    Raises SiteNotFound (no such site in this tenant) or SiteAlreadyRevoked.
    """
    now = utcnow()
    owned = tenant_sites(tenant_id).where(Site.id == site_id).with_only_columns(Site.id)
    # One conditional UPDATE first, like enrollment's code claim: two admins racing cannot both revoke,
    # and on SQLite a transaction that starts by writing waits for the lock rather than failing.
    # The new random secret is never shown to anyone, so the box's copy of the old one is worthless.
    revoked = (
        await session.execute(
            update(Site)
            .where(Site.id.in_(owned.scalar_subquery()), Site.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by, secret=secrets.token_hex(32))
            .returning(Site.id)
        )
    ).first()
    site = await session.scalar(
        tenant_sites(tenant_id).where(Site.id == site_id).execution_options(populate_existing=True)
    )
    if site is None:
        raise SiteNotFound(site_id)
    if revoked is None:
        raise SiteAlreadyRevoked(site)
    log.warning("site %s (%s) of tenant %s revoked by %s", site.id, site.name, tenant_id, by)
    return site


class TenantScope:
    """Tenant-data queries for one principal in one database session."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def sites(self) -> list[Site]:
        """Return the tenant's sites, by name."""
        return list(await self.session.scalars(scoped_sites(self.principal).order_by(Site.name, Site.id)))

    async def site(self, site_id: str) -> Site:
        """Return one of the tenant's sites or raise SiteNotFound."""
        site = await self.session.scalar(scoped_sites(self.principal).where(Site.id == site_id))
        if site is None:
            raise SiteNotFound(site_id)
        return site

    async def records(self, site_id: str, limit: int, kind: str | None = None) -> list[Record]:
        """Return a site's latest records, newest first (`kind="event"` gives its events)."""
        site = await self.site(site_id)
        query = select(Record).where(Record.site_id == site.id)
        if kind is not None:
            query = query.where(Record.kind == kind)
        return list(await self.session.scalars(query.order_by(Record.seq.desc()).limit(limit)))

    async def sync_states(self, site_id: str | None = None) -> dict[str, SiteSyncState]:
        """Return {site_id: uplink state} for the tenant's sites that have sent or been refused a batch."""
        site_query = scoped_sites(self.principal)
        if site_id is not None:
            site_query = site_query.where(Site.id == site_id)
        sites = site_query.subquery()
        query = select(SiteSyncState).join(sites, sites.c.id == SiteSyncState.site_id)
        return {state.site_id: state for state in await self.session.scalars(query)}

    async def record_counts(
        self, site_id: str | None = None, now: datetime | None = None
    ) -> dict[str, dict[str, KindCounts]]:
        """Return {site_id: {kind: counts}} for the tenant's sites; recent means occurred in the last 24 h."""
        since = (now or utcnow()) - RECENT_WINDOW
        site_query = scoped_sites(self.principal)
        if site_id is not None:
            site_query = site_query.where(Site.id == site_id)
        sites = site_query.subquery()
        query = (
            select(
                Record.site_id,
                Record.kind,
                func.count(),
                func.count(case((Record.occurred_at >= since, 1))),
            )
            .join(sites, sites.c.id == Record.site_id)
            .group_by(Record.site_id, Record.kind)
        )
        counts: dict[str, dict[str, KindCounts]] = {}
        for site_id, kind, total, recent in await self.session.execute(query):
            counts.setdefault(site_id, {})[kind] = KindCounts(total=total, recent=recent)
        return counts

    async def revoke_site(self, site_id: str) -> Site:
        """Revoke one of the tenant's sites in the principal's name (see `revoke_site`)."""
        return await revoke_site(self.session, self.principal.tenant_id, site_id, by=self.principal.actor)

    async def issue_enrollment_code(self, site_name: str, ttl: timedelta, timezone: str) -> IssuedCode:
        """Issue a one-time code that enrolls a new site into the principal's tenant."""
        return await issue_code(self.session, self.principal.tenant_id, site_name, ttl=ttl, timezone=timezone)

    async def issue_enrollment_file(
        self, key: Ed25519PrivateKey, site_name: str, ttl: timedelta, timezone: str, cloud_url: str
    ) -> EnrollmentFile:
        """Create a site in the principal's tenant and return its signed offline enrollment file."""
        return await issue_enrollment_file(
            self.session,
            key,
            tenant_id=self.principal.tenant_id,
            site_name=site_name,
            timezone=timezone,
            ttl=ttl,
            cloud_url=cloud_url,
            issued_by=self.principal.email,
        )

    async def pending_offline_sites(self) -> dict[str, datetime]:
        """Return the tenant's sites whose enrollment file no box has claimed yet, with the file's expiry."""
        return await pending_offline_sites(self.session, self.principal.tenant_id)


def owned(table: Table, principal: Principal) -> list[ColumnElement[bool]]:
    """Conditions on an analytics table's rows: the principal's tenant, and its sites if it is limited to some."""
    conditions = [table.c.tenant_id == principal.tenant_id]
    if principal.site_ids is not None:
        conditions.append(table.c.site_id.in_(sorted(principal.site_ids)))
    return conditions


def owned_sites(principal: Principal) -> list[ColumnElement[bool]]:
    """Conditions on `sites` rows: the principal's tenant, and its sites if it is limited to some."""
    conditions = [Site.tenant_id == principal.tenant_id]
    if principal.site_ids is not None:
        conditions.append(Site.id.in_(sorted(principal.site_ids)))
    return conditions


def principal_rows(table: Table, principal: Principal) -> Select[Any]:
    """Return a query of the rows of an analytics table the principal may see (`owned`)."""
    return select(table).where(*owned(table, principal))
