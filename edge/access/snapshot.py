"""Credential snapshots pushed from the cloud: people, credentials and level assignments, applied atomically.

A snapshot has a version number. It is applied in ONE database transaction, so a badge decided meanwhile
sees either the old or the new set (decisions read the in-memory `CredentialIndex`, rebuilt after the commit
and swapped in one assignment); a version at or below the applied one is ignored, so applying twice is
harmless.

- ``kind = "full"``: the snapshot is the whole cloud-managed population. Cloud-managed people (those with an
  ``id`` from the cloud, stored as ``external_id``) that are missing are removed; people enrolled locally on
  the console are left alone.
- ``kind = "delta"``: the listed people are replaced, ``removed`` ids are deleted. With ``base_version`` the
  delta only applies on top of exactly that version (else 409: the cloud must send a full snapshot).

Each listed person is complete: their credentials and levels are replaced by the lists given. ``pin`` and
``duress_pin`` are the exceptions: absent keeps the stored hash, ``null`` clears it, a value sets it (hashed on
arrival). A duress PIN equal to the person's PIN (given or stored) rejects the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.access.credentials import CredentialFormatError, as_utc, normalise_credential
from edge.access.pins import PIN_PATTERN
from edge.storage.database import Database
from edge.storage.schema import access_snapshot, credentials, passback_presence, people, person_access, person_levels
from sync.downlink import ConfigCredential, PersonFields
from webguard.params import MAX_DB_INT

UNCHANGED = object()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# One credential and person shape for HQ's documents and snapshots pushed to the box (sync.downlink).
SnapshotCredential = ConfigCredential


class SnapshotPerson(PersonFields):
    """A person in a snapshot, complete except for `pin` (absent = keep the stored PIN)."""

    pin: str | None = Field(
        default=None, pattern=PIN_PATTERN, repr=False, description="PIN in clear (hashed on arrival); null clears"
    )
    duress_pin: str | None = Field(
        default=None,
        pattern=PIN_PATTERN,
        repr=False,
        description="Duress PIN in clear (hashed on arrival; must differ from the PIN); null clears",
    )

    @model_validator(mode="after")
    def _duress_differs(self) -> SnapshotPerson:
        if self.pin is not None and self.pin == self.duress_pin:
            raise ValueError("duress_pin must differ from pin")
        return self


class CredentialSnapshot(_Body):
    """A versioned full or delta snapshot of people, credentials and level assignments."""

    version: int = Field(ge=1, le=MAX_DB_INT, description="Monotonic version; older or equal versions are ignored")
    kind: Literal["full", "delta"] = Field(default="full", description="Whole population or changes only")
    base_version: int | None = Field(
        default=None, ge=0, le=MAX_DB_INT, description="Delta: applies only on top of this version"
    )
    people: list[SnapshotPerson] = Field(default_factory=list, max_length=100_000, description="People")
    removed: list[str] = Field(default_factory=list, max_length=100_000, description="Delta: ids to delete")

    @model_validator(mode="after")
    def _consistent(self) -> CredentialSnapshot:
        if self.kind == "full" and (self.removed or self.base_version is not None):
            raise ValueError("a full snapshot has no 'removed' or 'base_version'")
        ids = [p.id for p in self.people]
        if len(set(ids)) != len(ids):
            raise ValueError("people: an id is listed twice")
        if set(ids) & set(self.removed):
            raise ValueError("removed: an id is also listed in people")
        seen: set[str] = set()
        for person in self.people:
            for cred in person.credentials:
                try:
                    number = normalise_credential(cred.number)
                except CredentialFormatError as err:
                    raise ValueError(f"people.{person.id}: {err}") from err
                if number in seen:
                    raise ValueError(f"credential {number!r} is listed twice")
                seen.add(number)
        return self


class SnapshotRejected(ValueError):
    """The snapshot cannot be applied as a whole (nothing was changed)."""


class SnapshotConflict(SnapshotRejected):
    """A delta's base version is not the applied version."""


@dataclass(frozen=True)
class SnapshotResult:
    """What applying a snapshot did."""

    applied: bool
    version: int
    previous_version: int
    added: int = 0
    updated: int = 0
    removed: int = 0

    def as_json(self) -> dict[str, object]:
        """Return the result as a JSON-ready dict."""
        return {
            "applied": self.applied,
            "version": self.version,
            "previous_version": self.previous_version,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
        }


async def applied_version(db: Database) -> int:
    """Return the version of the last applied snapshot (0: none)."""
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(access_snapshot.c.version))).scalar() or 0)


async def apply_snapshot(
    db: Database,
    snapshot: CredentialSnapshot,
    pin_hashes: Mapping[str, str | None],
    duress_hashes: Mapping[str, str | None] | None = None,
    same_pin: Callable[[str, str | None], bool] | None = None,
) -> SnapshotResult:
    """Apply `snapshot` in one transaction; `pin_hashes` maps person ids to new PIN hashes (None = clear), and
    `duress_hashes` likewise duress PIN hashes. `same_pin(pin, stored_hash)` rejects a snapshot that sets one of
    the two equal to the other one kept from before.

    Callers serialise calls (the access service holds a lock); level ids are validated by the caller.
    """
    duress_hashes = duress_hashes or {}
    previous = await applied_version(db)
    if snapshot.version <= previous:
        return SnapshotResult(False, previous, previous)
    if snapshot.kind == "delta" and snapshot.base_version is not None and snapshot.base_version != previous:
        raise SnapshotConflict(f"delta is based on version {snapshot.base_version}, applied is {previous}")
    try:
        async with db.engine.begin() as conn:
            # The first statement is a write, so the transaction (BEGIN) covers every read below too.
            now = datetime.now(UTC)
            stamped = await conn.execute(
                update(access_snapshot)
                .where(access_snapshot.c.id == 1, access_snapshot.c.version == previous)
                .values(version=snapshot.version, applied_at=now)
            )
            if stamped.rowcount == 0:
                if previous != 0:
                    raise SnapshotConflict("another snapshot was applied meanwhile")
                await conn.execute(insert(access_snapshot).values(id=1, version=snapshot.version, applied_at=now))
            added, removed = await replace_people(conn, snapshot, pin_hashes, duress_hashes, same_pin, now)
    except IntegrityError as err:
        raise SnapshotRejected(
            "a credential in the snapshot belongs to a person outside it (enrolled on the console?)"
        ) from err
    return SnapshotResult(
        True, snapshot.version, previous, added=added, updated=len(snapshot.people) - added, removed=removed
    )


async def replace_people(
    conn: AsyncConnection,
    snapshot: CredentialSnapshot,
    pin_hashes: Mapping[str, str | None],
    duress_hashes: Mapping[str, str | None],
    same_pin: Callable[[str, str | None], bool] | None,
    now: datetime,
) -> tuple[int, int]:
    """Write `snapshot`'s people inside the caller's open write transaction; return (added, removed).

    Shared by `apply_snapshot` and the site configuration applier (edge.access.site_config), which writes its
    policy in the same transaction. The caller stamps the version and maps IntegrityError to SnapshotRejected.
    """
    rows = await conn.execute(
        select(person_access.c.external_id, person_access.c.person_id).where(person_access.c.external_id.is_not(None))
    )
    managed: dict[str, int] = {r.external_id: r.person_id for r in rows}
    listed = {p.id for p in snapshot.people}
    gone = set(managed) - listed if snapshot.kind == "full" else set(snapshot.removed) & set(managed)
    gone_ids = [managed[ext] for ext in gone]
    replaced_ids = [managed[p.id] for p in snapshot.people if p.id in managed]
    for table in (credentials, person_levels):
        await conn.execute(delete(table).where(table.c.person_id.in_(gone_ids + replaced_ids)))
    for table in (person_access, passback_presence):
        await conn.execute(delete(table).where(table.c.person_id.in_(gone_ids)))
    await conn.execute(delete(people).where(people.c.id.in_(gone_ids)))
    ids: dict[str, int] = {}
    # New people: inserted in bulk (one statement per table, ids returned in order), not one round trip each.
    fresh = [p for p in snapshot.people if p.id not in managed]
    if fresh:
        result = await conn.execute(
            insert(people).returning(people.c.id, sort_by_parameter_order=True),
            [{"name": p.name, "active": p.active, "created_at": now} for p in fresh],
        )
        ids.update(zip([p.id for p in fresh], result.scalars().all(), strict=True))
        await conn.execute(
            insert(person_access),
            [
                {
                    "person_id": ids[p.id],
                    "external_id": p.id,
                    "role": p.role,
                    "valid_from": as_utc(p.valid_from),
                    "valid_until": as_utc(p.valid_until),
                    "pin_hash": pin_hashes.get(p.id),
                    "duress_pin_hash": duress_hashes.get(p.id),
                }
                for p in fresh
            ],
        )
    for person in snapshot.people:
        person_id = managed.get(person.id)
        if person_id is None:
            continue
        ids[person.id] = person_id
        access_values: dict[str, Any] = {
            "role": person.role,
            "valid_from": as_utc(person.valid_from),
            "valid_until": as_utc(person.valid_until),
        }
        if person.id in pin_hashes:
            access_values["pin_hash"] = pin_hashes[person.id]
        if person.id in duress_hashes:
            access_values["duress_pin_hash"] = duress_hashes[person.id]
        if same_pin is not None:
            await _check_duress_differs(conn, person_id, person, same_pin)
        await conn.execute(
            update(people).where(people.c.id == person_id).values(name=person.name, active=person.active)
        )
        await conn.execute(update(person_access).where(person_access.c.person_id == person_id).values(**access_values))
    badge_rows = [
        {
            "person_id": ids[p.id],
            "number": normalise_credential(c.number),
            "active": c.active,
            "valid_from": as_utc(c.valid_from),
            "valid_until": as_utc(c.valid_until),
        }
        for p in snapshot.people
        for c in p.credentials
    ]
    if badge_rows:
        await conn.execute(insert(credentials), badge_rows)
    level_rows = [{"person_id": ids[p.id], "level_id": lv} for p in snapshot.people for lv in dict.fromkeys(p.levels)]
    if level_rows:
        await conn.execute(insert(person_levels), level_rows)
    added = len(fresh)
    return added, len(gone_ids)


async def _check_duress_differs(
    conn: AsyncConnection, person_id: int, person: SnapshotPerson, same_pin: Callable[[str, str | None], bool]
) -> None:
    """Reject a new PIN equal to the kept duress PIN, or a new duress PIN equal to the kept PIN."""
    given = person.model_fields_set
    if ("pin" in given) == ("duress_pin" in given):
        return  # both given (compared by the model) or neither changes
    new = person.pin if "pin" in given else person.duress_pin
    if new is None:
        return
    kept = person_access.c.duress_pin_hash if "pin" in given else person_access.c.pin_hash
    stored = (await conn.execute(select(kept).where(person_access.c.person_id == person_id))).scalar()
    if same_pin(new, stored):
        raise SnapshotRejected(f"people.{person.id}: the duress PIN must differ from the PIN")
