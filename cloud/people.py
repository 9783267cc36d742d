"""HQ edits of people, badges and site policies; each bumps the versions of the sites it affects.

Every function works for one tenant (its queries start from `cloud.tenancy`), runs in the caller's transaction
and returns the ids of the sites whose version it bumped: the caller wakes their long-polls
(`ConfigNotifier.notify`) once the transaction committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Badge, Person, PersonSite, Site, SitePolicy, utcnow
from cloud.people_models import MAX_BADGES, BadgeIn, BadgeOut, PersonFields, PersonIn, PersonOut
from cloud.siteconfig import bump_versions
from cloud.tenancy import SiteNotFound, tenant_people, tenant_policies, tenant_sites
from sync.policy import AccessLevel, DoorPolicy, HolidayCalendar, Schedule

POLICY_MODELS: dict[str, type[BaseModel]] = {
    "access_level": AccessLevel,
    "schedule": Schedule,
    "holiday": HolidayCalendar,
    "door": DoorPolicy,
}
# URL segment -> stored kind.
POLICY_PATHS = {"access-levels": "access_level", "schedules": "schedule", "holidays": "holiday", "doors": "door"}


class PersonNotFound(LookupError):
    """No person with this id in the tenant."""


class BadgeNotFound(LookupError):
    """The person has no badge with this number."""


class TooManyBadges(ValueError):
    """A person holds at most MAX_BADGES badges."""


@dataclass
class PersonView:
    """A person with their sites and badges."""

    person: Person
    sites: list[str]
    badges: list[Badge]

    def out(self) -> PersonOut:
        """Convert to the API model."""
        p = self.person
        return PersonOut(
            id=p.id,
            name=p.name,
            active=p.active,
            role=p.role,
            valid_from=p.valid_from,
            valid_until=p.valid_until,
            levels=list(p.levels),
            sites=self.sites,
            badges=[
                BadgeOut(number=b.number, active=b.active, valid_from=b.valid_from, valid_until=b.valid_until)
                for b in self.badges
            ],
            removed_at=p.removed_at,
            updated_at=p.updated_at,
        )


async def _own_sites(session: AsyncSession, tenant_id: str, site_ids: Iterable[str]) -> list[str]:
    wanted = sorted(set(site_ids))
    if not wanted:
        return []
    found = set(await session.scalars(tenant_sites(tenant_id).where(Site.id.in_(wanted)).with_only_columns(Site.id)))
    missing = [s for s in wanted if s not in found]
    if missing:
        raise SiteNotFound(missing[0])
    return wanted


async def person_sites(session: AsyncSession, person: Person) -> list[str]:
    """Return the ids of the sites a person applies to."""
    query = select(PersonSite.site_id).where(
        PersonSite.person_pk == person.pk, PersonSite.tenant_id == person.tenant_id
    )
    return sorted(await session.scalars(query))


async def person_badges(session: AsyncSession, person: Person) -> list[Badge]:
    """Return a person's badges by number."""
    query = select(Badge).where(Badge.person_pk == person.pk, Badge.tenant_id == person.tenant_id)
    return list(await session.scalars(query.order_by(Badge.number)))


async def find_person(session: AsyncSession, tenant_id: str, person_id: str) -> Person:
    """Return one of the tenant's people (removed ones too) or raise PersonNotFound."""
    person = await session.scalar(tenant_people(tenant_id).where(Person.id == person_id))
    if person is None:
        raise PersonNotFound(person_id)
    return person


async def view(session: AsyncSession, person: Person) -> PersonView:
    """Return the person with their sites and badges."""
    return PersonView(person, await person_sites(session, person), await person_badges(session, person))


async def list_people(session: AsyncSession, tenant_id: str, include_removed: bool = False) -> list[PersonView]:
    """Return the tenant's people by name."""
    query = tenant_people(tenant_id)
    if not include_removed:
        query = query.where(Person.removed_at.is_(None))
    people = list(await session.scalars(query.order_by(Person.name, Person.id)))
    return [await view(session, p) for p in people]


async def touch_hq(session: AsyncSession, person: Person, site_ids: Iterable[str]) -> set[str]:
    """Record an HQ edit of `person` affecting `site_ids`: bump them, mark the person changed at those versions."""
    person.updated_at = utcnow()
    bumped = await bump_versions(session, person.tenant_id, site_ids)
    for site_id, version in bumped.items():
        await session.execute(
            update(PersonSite)
            .where(PersonSite.person_pk == person.pk, PersonSite.site_id == site_id)
            .values(hq_version=version)
        )
    return set(bumped)


async def _set_sites(session: AsyncSession, person: Person, site_ids: list[str]) -> set[str]:
    """Make the person apply to exactly `site_ids`; return the sites added or removed."""
    before = set(await person_sites(session, person))
    after = set(site_ids)
    if before - after:
        await session.execute(
            delete(PersonSite).where(PersonSite.person_pk == person.pk, PersonSite.site_id.in_(before - after))
        )
    for site_id in sorted(after - before):
        session.add(PersonSite(person_pk=person.pk, site_id=site_id, tenant_id=person.tenant_id, hq_version=0))
    await session.flush()
    return before | after


HQ = "hq"  # Person.suspended_by of a suspension made at HQ (otherwise the id of the site whose box made it)


def set_active(person: Person, active: bool, origin: str) -> None:
    """Set `active`, recording who suspended the person: `origin` ("hq" or a site id) when this suspends them.

    An edit that keeps an existing suspension (e.g. HQ renaming a person a box suspended) keeps its origin, so
    that box may still lift it (docs/SYNC.md, reconciliation rule 1).
    """
    if active:
        person.suspended_by = None
    elif person.active is not False or person.suspended_by is None:
        person.suspended_by = origin
    person.active = active


def _apply_fields(person: Person, fields: PersonFields) -> None:
    person.name = fields.name
    set_active(person, fields.active, HQ)
    person.role = fields.role
    person.valid_from = fields.valid_from
    person.valid_until = fields.valid_until
    person.levels = list(fields.levels)


async def create_person(session: AsyncSession, tenant_id: str, body: PersonIn) -> tuple[Person, set[str]]:
    """Create a person with badges at the given sites."""
    sites = await _own_sites(session, tenant_id, body.sites)
    person = Person(tenant_id=tenant_id, updated_at=utcnow())
    _apply_fields(person, body)
    session.add(person)
    await session.flush()
    for badge in {b.number: b for b in body.badges}.values():
        session.add(Badge(tenant_id=tenant_id, person_pk=person.pk, **badge.model_dump()))
    affected = await _set_sites(session, person, sites)
    return person, await touch_hq(session, person, affected)


async def update_person(session: AsyncSession, tenant_id: str, person_id: str, body: PersonFields) -> set[str]:
    """Replace a person's fields and sites (a removed person stays removed: PersonNotFound)."""
    person = await find_person(session, tenant_id, person_id)
    if person.removed_at is not None:
        raise PersonNotFound(person_id)
    sites = await _own_sites(session, tenant_id, body.sites)
    _apply_fields(person, body)
    affected = await _set_sites(session, person, sites)
    return await touch_hq(session, person, affected)


async def remove_person(session: AsyncSession, tenant_id: str, person_id: str) -> set[str]:
    """Remove a person from every site (kept as removed: a later box edit cannot bring them back)."""
    person = await find_person(session, tenant_id, person_id)
    if person.removed_at is not None:
        return set()
    person.removed_at = utcnow()
    return await touch_hq(session, person, await person_sites(session, person))


async def add_badge(session: AsyncSession, tenant_id: str, person_id: str, body: BadgeIn) -> set[str]:
    """Give a person a badge (or replace the one with this number)."""
    person = await find_person(session, tenant_id, person_id)
    if person.removed_at is not None:
        raise PersonNotFound(person_id)
    badges = {b.number: b for b in await person_badges(session, person)}
    badge = badges.get(body.number)
    if badge is None:
        if len(badges) >= MAX_BADGES:
            raise TooManyBadges(f"a person holds at most {MAX_BADGES} badges")
        session.add(Badge(tenant_id=tenant_id, person_pk=person.pk, **body.model_dump()))
    else:
        for key, value in body.model_dump().items():
            setattr(badge, key, value)
    return await touch_hq(session, person, await person_sites(session, person))


async def revoke_badge(session: AsyncSession, tenant_id: str, person_id: str, number: str) -> set[str]:
    """Revoke a badge: it stays known to the sites and is refused there."""
    person = await find_person(session, tenant_id, person_id)
    badge = next((b for b in await person_badges(session, person) if b.number == number), None)
    if badge is None:
        raise BadgeNotFound(number)
    badge.active = False
    return await touch_hq(session, person, await person_sites(session, person))


async def site_policies(session: AsyncSession, tenant_id: str, site_id: str) -> dict[str, dict[str, Any]]:
    """Return a site's policies as {kind: {key: body}} (raises SiteNotFound for another tenant's site)."""
    await _own_sites(session, tenant_id, [site_id])
    result: dict[str, dict[str, Any]] = {kind: {} for kind in POLICY_MODELS}
    query = tenant_policies(tenant_id).where(SitePolicy.site_id == site_id).order_by(SitePolicy.key)
    for policy in await session.scalars(query):
        result[policy.kind][policy.key] = policy.body
    return result


async def put_policy(
    session: AsyncSession, tenant_id: str, site_id: str, kind: str, key: str, body: BaseModel
) -> set[str]:
    """Create or replace one level, schedule, holiday calendar or door policy of a site."""
    await _own_sites(session, tenant_id, [site_id])
    stored = body.model_dump(mode="json", exclude_none=True)
    existing = await session.scalar(
        tenant_policies(tenant_id).where(SitePolicy.site_id == site_id, SitePolicy.kind == kind, SitePolicy.key == key)
    )
    if existing is None:
        session.add(SitePolicy(site_id=site_id, kind=kind, key=key, tenant_id=tenant_id, body=stored))
    else:
        existing.body = stored
        existing.updated_at = utcnow()
    return set(await bump_versions(session, tenant_id, [site_id]))


async def delete_policy(session: AsyncSession, tenant_id: str, site_id: str, kind: str, key: str) -> set[str]:
    """Delete one policy object of a site; LookupError if there is none."""
    await _own_sites(session, tenant_id, [site_id])
    result = await session.execute(
        delete(SitePolicy)
        .where(
            SitePolicy.tenant_id == tenant_id,
            SitePolicy.site_id == site_id,
            SitePolicy.kind == kind,
            SitePolicy.key == key,
        )
        .returning(SitePolicy.key)
    )
    if result.first() is None:
        raise LookupError(key)
    return set(await bump_versions(session, tenant_id, [site_id]))
