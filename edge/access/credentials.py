"""People, their credentials and access levels in the edge database.

Credential numbers are stored normalised (`normalise_credential`) so that what a reader sends and what an
operator or the cloud enrolled compare equal:

- Wiegand with facility code (26/34/37-bit, decoded by the reader adapter): ``"<facility>:<card>"`` in decimal
  without leading zeros, e.g. ``"123:45678"``.
- Raw UIDs (MIFARE, DESFire, ...): upper-case hex without separators, e.g. ``"04:a1-b2 c3"`` -> ``"04A1B2C3"``;
  raw card data with a bit count keeps it: ``"8000800080/34"``.
- Anything else is an opaque vendor string, kept as sent (stripped).

PINs are never stored: only a keyed hash per person (`edge.access.pins`), checked after the card identified
the person; likewise the optional duress PIN.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.storage.database import Database, inserted_id
from edge.storage.schema import (
    credential_changes,
    credentials,
    people,
    person_access,
    person_levels,
    person_local_edits,
)

_WIEGAND = re.compile(r"^\s*(\d{1,5})\s*:\s*(\d{1,12})\s*$")
_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_BIT_COUNT = re.compile(r"^(.+)/(\d{1,3})$")


class CredentialFormatError(ValueError):
    """A credential number is empty or too long."""


class UnknownPerson(LookupError):
    """No person with that id."""


class UnknownCredential(LookupError):
    """The person has no credential with that number."""


class CredentialInUse(ValueError):
    """A credential number already belongs to someone."""


def normalise_credential(raw: str) -> str:
    """Return the canonical form of a credential as read or enrolled (see the module docstring)."""
    value = raw.strip()
    if not value or len(value) > 128:
        raise CredentialFormatError(f"credential must be 1-128 characters, got {len(value)}")
    wiegand = _WIEGAND.match(value)
    if wiegand:
        return f"{int(wiegand.group(1))}:{int(wiegand.group(2))}"
    bits = _BIT_COUNT.match(value)  # raw card data with its bit count, e.g. "8000800080/34"
    data, suffix = (bits.group(1), f"/{int(bits.group(2))}") if bits else (value, "")
    compact = _SEPARATORS.sub("", data)
    if compact and _HEX.match(compact):
        return compact.upper() + suffix
    return value


def as_utc(value: datetime | None) -> datetime | None:
    """Return `value` in UTC; a naive datetime is taken to be UTC already (SQLite stores no offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class CredentialRecord:
    """A credential joined with its holder, as read in one statement (one consistent snapshot)."""

    number: str
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None
    person_id: int
    person_name: str
    person_active: bool
    person_valid_from: datetime | None = None
    person_valid_until: datetime | None = None
    role: str | None = None
    levels: frozenset[str] = frozenset()
    pin_hash: str | None = field(default=None, repr=False)
    duress_pin_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PersonChanges:
    """Fields to change on a person; `None` for a field means 'leave it' (see `clear`)."""

    name: str | None = None
    active: bool | None = None
    role: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    levels: tuple[str, ...] | None = None
    pin_hash: str | None = None
    duress_pin_hash: str | None = None
    clear: frozenset[str] = frozenset()  # of "role", "valid_from", "valid_until", "pin_hash", "duress_pin_hash"


def _record_query() -> Select[Any]:
    """Credentials joined with their holder, access fields and levels: one row per credential."""
    levels = (
        select(func.group_concat(person_levels.c.level_id, ","))
        .where(person_levels.c.person_id == people.c.id)
        .scalar_subquery()
    )
    return select(
        credentials.c.number,
        credentials.c.active,
        credentials.c.valid_from,
        credentials.c.valid_until,
        people.c.id,
        people.c.name,
        people.c.active.label("person_active"),
        person_access.c.valid_from.label("person_valid_from"),
        person_access.c.valid_until.label("person_valid_until"),
        person_access.c.role,
        person_access.c.pin_hash,
        person_access.c.duress_pin_hash,
        levels.label("levels"),
    ).select_from(
        credentials.join(people, people.c.id == credentials.c.person_id).outerjoin(
            person_access, person_access.c.person_id == people.c.id
        )
    )


_RECORDS = _record_query()
_LOAD_PARTITION = 100  # rows turned into records between two yields to the event loop (~1 ms)


def _record(row: Row[Any]) -> CredentialRecord:
    return CredentialRecord(
        number=row.number,
        active=row.active,
        valid_from=as_utc(row.valid_from),
        valid_until=as_utc(row.valid_until),
        person_id=row.id,
        person_name=row.name,
        person_active=row.person_active,
        person_valid_from=as_utc(row.person_valid_from),
        person_valid_until=as_utc(row.person_valid_until),
        role=row.role,
        levels=frozenset(row.levels.split(",")) if row.levels else frozenset(),
        pin_hash=row.pin_hash,
        duress_pin_hash=row.duress_pin_hash,
    )


ChangeListener = Callable[[], Awaitable[None]]
InTransaction = Callable[[AsyncConnection, int], Awaitable[object]]


class CredentialStore:
    """Looks up and records people, credentials and level assignments (the source of truth).

    Badge decisions read the in-memory `edge.access.credential_index.CredentialIndex`, which listens here:
    every write method awaits the change listeners after its commit, so the index is current when it returns.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[ChangeListener] = []

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Await `listener()` after every committed change made through this store (or `changed`)."""
        self._listeners.append(listener)

    async def changed(self) -> None:
        """Tell the listeners that people or credentials changed (after a commit made elsewhere, e.g. a snapshot)."""
        for listener in list(self._listeners):
            await listener()

    async def lookup(self, number: str) -> CredentialRecord | None:
        """Return the credential with this number (normalised here) and its holder, read from the database."""
        try:
            number = normalise_credential(number)
        except CredentialFormatError:
            return None
        # One SELECT, so a snapshot committed meanwhile is seen entirely or not at all (WAL read snapshot).
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(_RECORDS.where(credentials.c.number == number))).first()
        return None if row is None else _record(row)

    async def generation(self) -> int:
        """Return the change counter of people and credentials (bumped by triggers on every change)."""
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(credential_changes.c.generation))).scalar() or 0)

    async def load_all(self) -> tuple[int, dict[str, CredentialRecord]]:
        """Return (generation, every credential by number), read in partitions so the loop keeps running.

        The generation is read first: the records are at least that new, so a change committed during the
        load is seen by the next generation check, never missed.
        """
        generation = await self.generation()
        records: dict[str, CredentialRecord] = {}
        async with self._db.engine.connect() as conn:
            result = await conn.stream(_RECORDS)
            async for rows in result.partitions(_LOAD_PARTITION):
                for row in rows:
                    records[row.number] = _record(row)
        return generation, records

    async def add_person(
        self,
        name: str,
        numbers: list[str],
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        active: bool = True,
        levels: Iterable[str] = (),
        role: str | None = None,
        pin_hash: str | None = None,
        duress_pin_hash: str | None = None,
        person_valid: tuple[datetime | None, datetime | None] = (None, None),
        also: InTransaction | None = None,
    ) -> int:
        """Create a person with credentials (valid from/until) and levels in one transaction; return the id.

        `person_valid`: the person's own (from, until), which bounds every badge they hold now or later.
        `also(conn, person_id)` runs last inside that transaction (the edit's journal record).
        """
        normalised = [normalise_credential(n) for n in numbers]
        try:
            person_id = await self._add_person(
                name,
                normalised,
                valid_from,
                valid_until,
                active,
                levels,
                role=role,
                pin_hash=pin_hash,
                duress_pin_hash=duress_pin_hash,
                person_valid=person_valid,
                also=also,
            )
        except IntegrityError as err:
            raise CredentialInUse("a credential already belongs to someone") from err
        await self.changed()
        return person_id

    async def _add_person(
        self,
        name: str,
        normalised: list[str],
        valid_from: datetime | None,
        valid_until: datetime | None,
        active: bool,
        levels: Iterable[str],
        *,
        role: str | None,
        pin_hash: str | None,
        duress_pin_hash: str | None = None,
        person_valid: tuple[datetime | None, datetime | None] = (None, None),
        also: InTransaction | None = None,
    ) -> int:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(insert(people).values(name=name, active=active, created_at=datetime.now(UTC)))
            person_id = inserted_id(result)
            for number in dict.fromkeys(normalised):
                await conn.execute(
                    insert(credentials).values(
                        person_id=person_id,
                        number=number,
                        active=True,
                        valid_from=as_utc(valid_from),
                        valid_until=as_utc(valid_until),
                    )
                )
            if role is not None or pin_hash is not None or duress_pin_hash is not None or any(person_valid):
                await conn.execute(
                    insert(person_access).values(
                        person_id=person_id,
                        role=role,
                        pin_hash=pin_hash,
                        duress_pin_hash=duress_pin_hash,
                        valid_from=as_utc(person_valid[0]),
                        valid_until=as_utc(person_valid[1]),
                    )
                )
            await _set_levels(conn, person_id, levels)
            if also is not None:
                await also(conn, person_id)
        return person_id

    async def list_people(self) -> list[dict[str, object]]:
        """Return people with their credential numbers, whether HQ manages them and whether they have local
        changes HQ's document does not show yet."""
        query = (
            select(people.c.id, people.c.name, people.c.active, credentials.c.number)
            .outerjoin(credentials, credentials.c.person_id == people.c.id)
            .order_by(people.c.name, people.c.id, credentials.c.number)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        async with self._db.engine.connect() as conn:
            managed = set(
                (
                    await conn.execute(
                        select(person_access.c.person_id).where(person_access.c.external_id.is_not(None))
                    )
                ).scalars()
            )
            edited = set((await conn.execute(select(person_local_edits.c.person_id))).scalars())
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            entry = out.setdefault(
                r.id,
                {
                    "id": r.id,
                    "name": r.name,
                    "active": r.active,
                    "managed_by_hq": r.id in managed,
                    "local_changes": r.id in edited,
                    "credentials": [],
                },
            )
            if r.number is not None:
                entry["credentials"].append(r.number)
        return list(out.values())

    async def get_person(self, person_id: int) -> dict[str, Any]:
        """Return one person with credentials, levels, role and validity (never the PIN, only whether set)."""
        async with self._db.engine.connect() as conn:
            person = (await conn.execute(select(people).where(people.c.id == person_id))).first()
            if person is None:
                raise UnknownPerson(person_id)
            extra = (await conn.execute(select(person_access).where(person_access.c.person_id == person_id))).first()
            creds = (
                await conn.execute(
                    select(credentials).where(credentials.c.person_id == person_id).order_by(credentials.c.number)
                )
            ).all()
            levels = (
                await conn.execute(
                    select(person_levels.c.level_id)
                    .where(person_levels.c.person_id == person_id)
                    .order_by(person_levels.c.level_id)
                )
            ).scalars()
            level_ids = list(levels)

        def iso(value: datetime | None) -> str | None:
            value = as_utc(value)
            return value.isoformat() if value else None

        return {
            "id": person.id,
            "name": person.name,
            "active": person.active,
            "external_id": extra.external_id if extra else None,
            "role": extra.role if extra else None,
            "valid_from": iso(extra.valid_from) if extra else None,
            "valid_until": iso(extra.valid_until) if extra else None,
            "has_pin": bool(extra and extra.pin_hash),
            "has_duress_pin": bool(extra and extra.duress_pin_hash),
            "levels": level_ids,
            "credentials": [
                {
                    "number": c.number,
                    "active": c.active,
                    "valid_from": iso(c.valid_from),
                    "valid_until": iso(c.valid_until),
                }
                for c in creds
            ],
        }

    async def pin_hashes(self, person_id: int) -> tuple[str | None, str | None]:
        """Return the stored (PIN hash, duress PIN hash) of a person."""
        query = select(person_access.c.pin_hash, person_access.c.duress_pin_hash).where(
            person_access.c.person_id == person_id
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row.pin_hash, row.duress_pin_hash) if row else (None, None)

    async def update_person(self, person_id: int, changes: PersonChanges, also: InTransaction | None = None) -> None:
        """Apply `changes` to a person in one transaction (`also(conn, person_id)` runs last inside it)."""
        async with self._db.engine.begin() as conn:
            values: dict[str, Any] = {}
            if changes.name is not None:
                values["name"] = changes.name
            if changes.active is not None:
                values["active"] = changes.active
            # An UPDATE first also opens the write transaction (pysqlite begins at the first DML).
            found = await conn.execute(
                update(people).where(people.c.id == person_id).values(**(values or {"id": person_id}))
            )
            if found.rowcount == 0:
                raise UnknownPerson(person_id)
            extra: dict[str, Any] = {}
            for key in ("role", "valid_from", "valid_until", "pin_hash", "duress_pin_hash"):
                new = getattr(changes, key)
                if key in changes.clear:
                    extra[key] = None
                elif new is not None:
                    extra[key] = as_utc(new) if isinstance(new, datetime) else new
            if extra:
                await _upsert_access(conn, person_id, extra)
            if changes.levels is not None:
                await _set_levels(conn, person_id, changes.levels)
            if also is not None:
                await also(conn, person_id)
        await self.changed()

    async def add_credential(
        self,
        person_id: int,
        number: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        also: InTransaction | None = None,
    ) -> str:
        """Give a person one more credential in one transaction (`also` as in update_person); return it normalised."""
        normalised = normalise_credential(number)
        try:
            async with self._db.engine.begin() as conn:
                found = await conn.execute(
                    update(people).where(people.c.id == person_id).values(id=person_id)  # opens the write
                )
                if found.rowcount == 0:
                    raise UnknownPerson(person_id)
                await conn.execute(
                    insert(credentials).values(
                        person_id=person_id,
                        number=normalised,
                        active=True,
                        valid_from=as_utc(valid_from),
                        valid_until=as_utc(valid_until),
                    )
                )
                if also is not None:
                    await also(conn, person_id)
        except IntegrityError as err:
            raise CredentialInUse(f"badge {normalised} already belongs to someone") from err
        await self.changed()
        return normalised

    async def set_credential_active(
        self, person_id: int, number: str, active: bool, also: InTransaction | None = None
    ) -> None:
        """Revoke (False) or reinstate a credential of a person in one transaction (`also` as in update_person)."""
        normalised = normalise_credential(number)
        async with self._db.engine.begin() as conn:
            found = await conn.execute(
                update(credentials)
                .where(credentials.c.person_id == person_id, credentials.c.number == normalised)
                .values(active=active)
            )
            if found.rowcount == 0:
                raise UnknownCredential(f"person {person_id} has no credential {normalised!r}")
            if also is not None:
                await also(conn, person_id)
        await self.changed()


async def _set_levels(conn: AsyncConnection, person_id: int, levels: Iterable[str]) -> None:
    await conn.execute(delete(person_levels).where(person_levels.c.person_id == person_id))
    for level_id in dict.fromkeys(levels):
        await conn.execute(insert(person_levels).values(person_id=person_id, level_id=level_id))


async def _upsert_access(conn: AsyncConnection, person_id: int, values: dict[str, Any]) -> None:
    result = await conn.execute(update(person_access).where(person_access.c.person_id == person_id).values(**values))
    if result.rowcount == 0:
        await conn.execute(insert(person_access).values(person_id=person_id, **values))
