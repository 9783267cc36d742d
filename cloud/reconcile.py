"""Reconciling edits made on a box (outbox records of kind ``config_edit``) into HQ's people tables.

The rule (docs/SYNC.md, "Downlink"): a revoke always wins, whichever side made it (a removed person stays
removed, a suspended person stays suspended, a revoked badge stays revoked); otherwise the later `updated_at`
of the person wins; a box's later edit may lift a suspension when nothing changed the person elsewhere since its
document, and a box may always lift a suspension it made itself (`Person.suspended_by` records who suspended).
A person HQ (or another site's box) edited after the document the box had (`PersonSite.hq_version` above
the edit's `base_version`) and the box edited too is a conflict: resolved by the same rule AND listed for HQ.

Runs inside the transaction that stores the record, only for records that were new there, so a replayed batch
changes nothing. Each reconciled edit bumps the versions of the person's sites: the box receives the merge.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import Badge, ConfigConflict, Person, PersonSite, SitePolicy, utcnow
from cloud.people import person_badges, person_sites, set_active
from cloud.people_models import MAX_BADGES
from cloud.siteconfig import bump_versions
from cloud.tenancy import tenant_people, tenant_policies
from sync.downlink import ConfigPerson, LocalEdit

log = logging.getLogger(__name__)

MAX_LEVELS = 64  # ConfigPerson.levels holds at most 64


def _cloud_state(person: Person, badges: list[Badge]) -> dict[str, Any]:
    return {
        "name": person.name,
        "active": person.active,
        "role": person.role,
        "levels": list(person.levels),
        "removed": person.removed_at is not None,
        "credentials": [{"number": b.number, "active": b.active} for b in badges],
        "updated_at": person.updated_at.isoformat(),
    }


async def _create_from_box(session: AsyncSession, tenant_id: str, site_id: str, edit: LocalEdit) -> Person:
    box = edit.person
    person = Person(
        tenant_id=tenant_id,
        id=box.id,
        name=box.name,
        active=box.active,
        suspended_by=None if box.active else site_id,
        role=box.role,
        valid_from=box.valid_from,
        valid_until=box.valid_until,
        levels=sorted(set(box.levels)),
        updated_at=box.updated_at,
    )
    session.add(person)
    await session.flush()
    revoked = set(edit.revoked)
    for credential in list({c.number: c for c in box.credentials}.values())[:MAX_BADGES]:
        session.add(
            Badge(
                tenant_id=tenant_id,
                person_pk=person.pk,
                number=credential.number,
                active=credential.active and credential.number not in revoked,
                valid_from=credential.valid_from,
                valid_until=credential.valid_until,
            )
        )
    session.add(PersonSite(person_pk=person.pk, site_id=site_id, tenant_id=tenant_id, hq_version=0))
    await session.flush()
    return person


async def _site_levels(session: AsyncSession, tenant_id: str, site_id: str) -> set[str]:
    query = tenant_policies(tenant_id).where(SitePolicy.site_id == site_id, SitePolicy.kind == "access_level")
    return {p.key for p in await session.scalars(query)}


async def _merge(
    session: AsyncSession,
    person: Person,
    badges: list[Badge],
    site_id: str,
    edit: LocalEdit,
    box_later: bool,
    both_edited: bool,
) -> list[str]:
    """Apply the rule to `person` in place; return the revokes that decided something (for the conflict)."""
    box: ConfigPerson = edit.person
    decided: list[str] = []
    if edit.removed and person.removed_at is None:
        person.removed_at = utcnow()
        decided.append("removed on the box")
    if person.removed_at is not None:
        return decided or ["removed at HQ"]
    if box_later:
        # The box knows only the levels its site defines: keep the person's levels at other sites.
        local = await _site_levels(session, person.tenant_id, site_id)
        person.levels = sorted(set(box.levels) | {lv for lv in person.levels if lv not in local})[:MAX_LEVELS]
        person.name, person.role = box.name, box.role
        person.valid_from, person.valid_until = box.valid_from, box.valid_until
    if box_later and not both_edited:
        # HQ has not edited the person since the box's document: the box saw HQ's state (or made the suspension
        # itself), so its later edit may lift a suspension; only a revoke the box did not see must win.
        set_active(person, box.active, site_id)
    elif box.active and not person.active and person.suspended_by == site_id:
        # The suspension is this box's own (recorded when it was reconciled): the box may lift it, whatever HQ
        # edited meanwhile. HQ's or another box's suspension would win (below).
        set_active(person, True, site_id)
    else:
        if person.active != box.active:
            decided.append("suspended " + ("at HQ" if box.active else "on the box"))
        set_active(person, person.active and box.active, site_id)
    by_number = {b.number: b for b in badges}
    revoked = set(edit.revoked)
    for credential in box.credentials:
        badge = by_number.get(credential.number)
        box_active = credential.active and credential.number not in revoked
        if badge is None and len(by_number) >= MAX_BADGES:
            # A document holds at most MAX_BADGES per person: the box's extra badge is not taken over.
            log.warning("person %s: box badge %s dropped (at most %d)", person.id, credential.number, MAX_BADGES)
            continue
        if badge is None:  # a badge issued on the box (e.g. a temporary one)
            badge = Badge(
                tenant_id=person.tenant_id,
                person_pk=person.pk,
                number=credential.number,
                active=box_active,
                valid_from=credential.valid_from,
                valid_until=credential.valid_until,
            )
            session.add(badge)
            by_number[badge.number] = badge
            continue
        if box_later:
            badge.valid_from, badge.valid_until = credential.valid_from, credential.valid_until
        if badge.active != box_active:
            decided.append(f"badge {badge.number} revoked " + ("on the box" if badge.active else "at HQ"))
        badge.active = badge.active and box_active
    for number in sorted(revoked - {c.number for c in box.credentials}):
        badge = by_number.get(number)
        if badge is not None and badge.active:
            badge.active = False
            decided.append(f"badge {number} revoked on the box")
    return decided


async def reconcile_edit(session: AsyncSession, tenant_id: str, site_id: str, seq: int, edit: LocalEdit) -> set[str]:
    """Merge one box edit into the tables (the caller's transaction); return the sites whose version was bumped."""
    box = edit.person
    person = await session.scalar(tenant_people(tenant_id).where(Person.id == box.id))
    if person is None:
        if edit.removed:
            return set()  # removed on the box before HQ ever heard of them
        person = await _create_from_box(session, tenant_id, site_id, edit)
        return set(await bump_versions(session, tenant_id, [site_id]))
    badges = await person_badges(session, person)
    before = _cloud_state(person, badges)
    hq_version = await session.scalar(
        select(PersonSite.hq_version).where(PersonSite.person_pk == person.pk, PersonSite.site_id == site_id)
    )
    both_edited = hq_version is not None and hq_version > edit.base_version
    box_later = box.updated_at > person.updated_at
    decided = await _merge(session, person, badges, site_id, edit, box_later, both_edited)
    person.updated_at = max(person.updated_at, box.updated_at)
    if both_edited:
        winner = "box" if box_later else "cloud"
        reason = f"later edit: {'the box' if box_later else 'HQ'}"
        if decided:
            reason = "revoke wins (" + "; ".join(decided) + "); " + reason
        session.add(
            ConfigConflict(
                tenant_id=tenant_id,
                site_id=site_id,
                person_id=box.id,
                record_seq=seq,
                winner=winner,
                reason=reason[:200],
                cloud_state=before,
                box_state=edit.model_dump(mode="json"),
            )
        )
        log.warning("site %s: conflict on person %s (seq %d): %s", site_id, box.id, seq, reason)
    sites = set(await person_sites(session, person))
    bumped = await bump_versions(session, tenant_id, sites | ({site_id} if hq_version is not None else set()))
    # For the person's OTHER sites this edit came from elsewhere, like an HQ edit: their boxes' edits made before
    # seeing it are conflicts, and a suspension made here wins over them.
    for other, version in bumped.items():
        if other != site_id:
            await session.execute(
                update(PersonSite)
                .where(PersonSite.person_pk == person.pk, PersonSite.site_id == other)
                .values(hq_version=version)
            )
    return set(bumped)
