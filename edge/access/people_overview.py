"""Read people for the console's people pages: search, badges, levels, validity, HQ-managed and local changes.

Read-only; written by `edge.access.people.PeopleAdmin` and by HQ's documents (`edge.access.site_config`). A person
is *managed by HQ* when HQ's document lists them (`person_access.external_id`); such a person has a *local change*
while an edit made on the box waits for HQ's next document (`person_local_edits`, see `edge.access.local_edits`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select

from edge.access.credentials import as_utc
from edge.storage.database import Database
from edge.storage.schema import credentials, people, person_access, person_levels, person_local_edits

VISITOR_ROLE = "visitor"
LIST_LIMIT = 500


@dataclass(frozen=True)
class BadgeRow:
    """One badge of a person."""

    number: str
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None


@dataclass(frozen=True)
class LocalChange:
    """An edit made on the box to an HQ-managed person, not yet shown by HQ's document."""

    edited_at: datetime
    base_version: int
    revoked: list[str]
    suspended: bool


@dataclass
class PersonRow:
    """A person as the console shows them."""

    id: int
    name: str
    active: bool
    role: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    external_id: str | None = None
    has_pin: bool = False
    levels: list[str] = field(default_factory=list)
    badges: list[BadgeRow] = field(default_factory=list)
    local_change: LocalChange | None = None

    @property
    def managed_by_hq(self) -> bool:
        """True if HQ's configuration document lists this person."""
        return self.external_id is not None

    @property
    def visitor(self) -> bool:
        """True for a temporary visitor (enrolled with the visitor role)."""
        return self.role == VISITOR_ROLE

    def expires_at(self) -> datetime | None:
        """When the person's access ends: their own validity or, failing that, the latest badge's."""
        if self.valid_until is not None:
            return self.valid_until
        ends = [b.valid_until for b in self.badges if b.active]
        bounded = [e for e in ends if e is not None]
        return max(bounded) if bounded and len(bounded) == len(ends) else None

    def status(self, now: datetime) -> str:
        """active, suspended, expired or not yet valid."""
        if not self.active:
            return "suspended"
        end = self.expires_at()
        if end is not None and end <= now:
            return "expired"
        if self.valid_from is not None and self.valid_from > now:
            return "not yet valid"
        return "active"


async def find_people(db: Database, search: str = "", *, person_id: int | None = None) -> list[PersonRow]:
    """People whose name or badge number contains `search` (all when empty), by name; at most LIST_LIMIT."""
    query = select(people.c.id).order_by(people.c.name, people.c.id).limit(LIST_LIMIT)
    if person_id is not None:
        query = query.where(people.c.id == person_id)
    term = search.strip()
    if term:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        badge_holders = select(credentials.c.person_id).where(credentials.c.number.ilike(pattern, escape="\\"))
        query = query.where(or_(people.c.name.ilike(pattern, escape="\\"), people.c.id.in_(badge_holders)))
    async with db.engine.connect() as conn:
        ids = list((await conn.execute(query)).scalars())
        if not ids:
            return []
        rows = (await conn.execute(select(people).where(people.c.id.in_(ids)))).all()
        extras = {
            r.person_id: r
            for r in (await conn.execute(select(person_access).where(person_access.c.person_id.in_(ids)))).all()
        }
        edits = {
            r.person_id: r
            for r in (
                await conn.execute(select(person_local_edits).where(person_local_edits.c.person_id.in_(ids)))
            ).all()
        }
        levels = (
            await conn.execute(
                select(person_levels).where(person_levels.c.person_id.in_(ids)).order_by(person_levels.c.level_id)
            )
        ).all()
        badges = (
            await conn.execute(
                select(credentials).where(credentials.c.person_id.in_(ids)).order_by(credentials.c.number)
            )
        ).all()
    out = {r.id: _row(r, extras.get(r.id), edits.get(r.id)) for r in rows}
    for lv in levels:
        out[lv.person_id].levels.append(lv.level_id)
    for b in badges:
        out[b.person_id].badges.append(BadgeRow(b.number, b.active, as_utc(b.valid_from), as_utc(b.valid_until)))
    return [out[i] for i in ids]


def _row(person: Row[Any], extra: Row[Any] | None, edit: Row[Any] | None) -> PersonRow:
    row = PersonRow(id=person.id, name=person.name, active=person.active)
    if extra is not None:
        row.role = extra.role
        row.valid_from = as_utc(extra.valid_from)
        row.valid_until = as_utc(extra.valid_until)
        row.external_id = extra.external_id
        row.has_pin = bool(extra.pin_hash)
    if edit is not None:
        row.local_change = LocalChange(
            as_utc(edit.edited_at) or edit.edited_at,
            int(edit.base_version),
            list(edit.revoked or []),
            bool(edit.suspended),
        )
    return row
