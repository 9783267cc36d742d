"""Per-site configuration documents: stored versions, building a site's document, long-poll wake-ups.

Every edit that affects a site bumps its stored version (`bump_versions`, in the editing transaction); a pull
compares the version it has with the stored one and only then builds the document from the tables.
Wake-ups: `ConfigNotifier` wakes the long-polls of this process as soon as an edit commits. With several
cloud workers an edit made in another process is seen by the waiting pull's re-read of the version row every
`RECHECK_S` seconds (the documented bound for multi-worker deployments).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from aiohttp import web
from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.billing.limits import site_limits
from cloud.db.analytics_models import AlarmState
from cloud.db.models import Badge, Person, PersonSite, Site, SiteConfig, SitePolicy, utcnow
from cloud.fleet.site_document import site_vehicles
from cloud.tenancy import tenant_people, tenant_policies
from sync.downlink import ConfigCredential, ConfigPerson, HqAlarmAck, SiteConfigDocument
from sync.policy import AccessLevel, DoorPolicy, HolidayCalendar, Schedule

RECHECK_S = 1.0
MAX_ALARM_ACKS = 1000  # per document (SiteConfigDocument.alarm_acks); the oldest HQ acknowledgements first
SITE_CONFIGS = cast(Table, SiteConfig.__table__)


class ConfigNotifier:
    """Wakes the long-polls of one process when a site's version changes (or the server stops)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._parked: Counter[str] = Counter()
        self.closed = False

    def event(self, site_id: str) -> asyncio.Event:
        """The event the next change of `site_id` sets; take it BEFORE reading the version (no lost wake-up)."""
        event = self._events.get(site_id)
        if event is None:
            event = self._events[site_id] = asyncio.Event()
            if self.closed:
                event.set()
        return event

    @contextmanager
    def parked(self, site_id: str) -> Iterator[None]:
        """Count a pull of `site_id` as waiting for a change while the block runs (read by `waiting`)."""
        self._parked[site_id] += 1
        try:
            yield
        finally:
            self._parked[site_id] -= 1

    def waiting(self, site_id: str) -> int:
        """How many pulls of `site_id` are parked, waiting for a change or their deadline."""
        return self._parked[site_id]

    def notify(self, site_ids: Iterable[str]) -> None:
        """Wake every pull waiting on these sites (call after the edit committed)."""
        for site_id in site_ids:
            event = self._events.pop(site_id, None)
            if event is not None:
                event.set()

    def close(self) -> None:
        """Wake every waiting pull for good (server shutdown): they answer 204 at once."""
        self.closed = True
        for event in self._events.values():
            event.set()
        self._events.clear()


NOTIFIER = web.AppKey("config_notifier", ConfigNotifier)


def _insert_missing(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(SITE_CONFIGS).values(rows).on_conflict_do_nothing(index_elements=["site_id"])
    if dialect == "sqlite":
        return sqlite.insert(SITE_CONFIGS).values(rows).on_conflict_do_nothing(index_elements=["site_id"])
    raise ValueError(f"unsupported database dialect {dialect!r}")


async def ensure_site_configs(session: AsyncSession, tenant_id: str, site_ids: Iterable[str]) -> None:
    """Create the version rows of sites that have none yet (version 1: every site has a first document)."""
    now = utcnow()
    rows = [{"site_id": s, "tenant_id": tenant_id, "version": 1, "changed_at": now} for s in sorted(set(site_ids))]
    if rows:
        await session.execute(_insert_missing(session.get_bind().dialect.name, rows))


async def bump_versions(session: AsyncSession, tenant_id: str, site_ids: Iterable[str]) -> dict[str, int]:
    """Increase the stored version of each site (of `tenant_id`); return {site_id: new version}."""
    ids = sorted(set(site_ids))
    if not ids:
        return {}
    await ensure_site_configs(session, tenant_id, ids)
    result = await session.execute(
        update(SITE_CONFIGS)
        .where(SITE_CONFIGS.c.site_id.in_(ids), SITE_CONFIGS.c.tenant_id == tenant_id)
        .values(version=SITE_CONFIGS.c.version + 1, changed_at=utcnow())
        .returning(SITE_CONFIGS.c.site_id, SITE_CONFIGS.c.version)
    )
    return {row.site_id: row.version for row in result}


async def site_config(session: AsyncSession, site: Site) -> SiteConfig | None:
    """Return the site's document state, or None before its first pull or edit (version 1 then)."""
    return await session.scalar(
        select(SiteConfig)
        .where(SiteConfig.site_id == site.id, SiteConfig.tenant_id == site.tenant_id)
        .execution_options(populate_existing=True)
    )


async def stored_version(session: AsyncSession, site_id: str) -> int:
    """Return the stored version of a site (1 when it has no row yet)."""
    version = await session.scalar(select(SiteConfig.version).where(SiteConfig.site_id == site_id))
    return 1 if version is None else int(version)


async def pending_alarm_acks(session: AsyncSession, site: Site) -> list[HqAlarmAck]:
    """Alarms of `site` acknowledged at HQ whose acknowledgement by the box has not synced up yet, oldest first."""
    rows = await session.execute(
        select(AlarmState.alarm_id, AlarmState.hq_acknowledged_by, AlarmState.hq_acknowledged_at)
        .where(
            AlarmState.tenant_id == site.tenant_id,
            AlarmState.site_id == site.id,
            AlarmState.hq_acknowledged_at.is_not(None),
            AlarmState.acknowledged_at.is_(None),
        )
        .order_by(AlarmState.hq_acknowledged_at, AlarmState.alarm_id)
        .limit(MAX_ALARM_ACKS)
    )
    return [HqAlarmAck(alarm_id=alarm_id, by=by or "hq", at=at) for alarm_id, by, at in rows if at is not None]


def _credential(badge: Badge) -> ConfigCredential:
    return ConfigCredential(
        number=badge.number, active=badge.active, valid_from=badge.valid_from, valid_until=badge.valid_until
    )


async def build_document(session: AsyncSession, site: Site, version: int) -> SiteConfigDocument:
    """Build the site's document from the tables: its people (of its tenant only), its policies, the
    tenant's vehicle register (cloud/fleet/register.py) and the HQ alarm acknowledgements still to apply."""
    policies = list(await session.scalars(tenant_policies(site.tenant_id).where(SitePolicy.site_id == site.id)))
    bodies: dict[str, dict[str, Any]] = {"access_level": {}, "schedule": {}, "holiday": {}, "door": {}}
    for policy in policies:
        bodies[policy.kind][policy.key] = policy.body
    people = list(
        await session.scalars(
            tenant_people(site.tenant_id)
            .join(PersonSite, PersonSite.person_pk == Person.pk)
            .where(PersonSite.site_id == site.id, Person.removed_at.is_(None))
            .order_by(Person.id)
        )
    )
    badges: dict[int, list[Badge]] = {}
    if people:
        rows = await session.scalars(
            select(Badge)
            .where(Badge.tenant_id == site.tenant_id, Badge.person_pk.in_([p.pk for p in people]))
            .order_by(Badge.number)
        )
        for badge in rows:
            badges.setdefault(badge.person_pk, []).append(badge)
    levels = bodies["access_level"]
    return SiteConfigDocument(
        site_id=site.id,
        version=version,
        issued_at=utcnow(),
        people=[
            ConfigPerson(
                id=person.id,
                name=person.name,
                active=person.active,
                role=person.role,
                valid_from=person.valid_from,
                valid_until=person.valid_until,
                # A level id means this site's definition of it; levels the site does not define are left out.
                levels=[level for level in person.levels if level in levels][:64],
                credentials=[_credential(b) for b in badges.get(person.pk, [])],
                updated_at=person.updated_at,
            )
            for person in people
        ],
        access_levels={k: AccessLevel.model_validate(v) for k, v in levels.items()},
        schedules={k: Schedule.model_validate(v) for k, v in bodies["schedule"].items()},
        holidays={k: HolidayCalendar.model_validate(v) for k, v in bodies["holiday"].items()},
        doors={k: DoorPolicy.model_validate(v) for k, v in bodies["door"].items()},
        vehicles=await site_vehicles(session, site.tenant_id, levels),
        limits=await site_limits(session, site.tenant_id),
        alarm_acks=await pending_alarm_acks(session, site) or None,
    )
