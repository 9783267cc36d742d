"""People administration: enrol and change people, apply credential snapshots; every change audited, PINs hashed.

The site's access decisions read people only through the credential index (`CredentialStore.changed()` makes
it reload); nothing here decides on a badge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from edge.access.credentials import CredentialStore, PersonChanges, normalise_credential
from edge.access.local_edits import Origin, journal_local_edit
from edge.access.passback import PassbackTracker
from edge.access.pins import PinHasher
from edge.access.snapshot import CredentialSnapshot, SnapshotRejected, SnapshotResult, apply_snapshot
from edge.storage.database import Database
from edge.storage.journal import Journal, JournalEntry

T = TypeVar("T")


class UnknownLevel(ValueError):
    """An access level id that the site config does not define."""


class DuressPinConflict(ValueError):
    """A duress PIN equal to the person's PIN (or a PIN equal to their duress PIN)."""


class PeopleAdmin:
    """Operators' and the cloud's changes to people and credentials (console/API, credential snapshots)."""

    def __init__(
        self,
        levels: Iterable[str],
        db: Database,
        credentials: CredentialStore,
        journal: Journal,
        pins: PinHasher,
        passback: PassbackTracker,
        *,
        site_id: str = "",
    ) -> None:
        self._site_id = site_id
        self._levels = frozenset(levels)
        self._db = db
        self._credentials = credentials
        self._journal = journal
        self._pins = pins
        self._passback = passback
        self._snapshot_lock = asyncio.Lock()

    def set_levels(self, levels: Iterable[str]) -> None:
        """Replace the known access level ids (a cloud document added or replaced levels)."""
        self._levels = frozenset(levels)

    async def in_transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work(conn)` in one write transaction, serialised with snapshots; decisions see the result at once."""
        async with self._snapshot_lock:
            async with self._db.engine.begin() as conn:
                result = await work(conn)
            await self._credentials.changed()  # the next badge decides on the new set
        return result

    def _check_levels(self, levels: Iterable[str]) -> None:
        unknown = sorted(set(levels) - self._levels)
        if unknown:
            raise UnknownLevel(f"unknown access level(s): {', '.join(unknown)}")

    async def add_person(
        self,
        name: str,
        numbers: list[str],
        by: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        levels: list[str] | None = None,
        role: str | None = None,
        pin: str | None = None,
        duress_pin: str | None = None,
        person_valid: tuple[datetime | None, datetime | None] = (None, None),
        origin: Origin = "api",
    ) -> int:
        """Enrol a person (console/API); audited without the PIN or duress PIN; queued for HQ (config_edit).

        `valid_from`/`valid_until` bound the badges given here; `person_valid` (from, until) bounds the person."""
        self._check_levels(levels or [])
        if duress_pin is not None and duress_pin == pin:
            raise DuressPinConflict("the duress PIN must differ from the PIN")
        edits = _EditJournal(self._journal, self._site_id)
        person_id = await self._credentials.add_person(
            name,
            numbers,
            valid_from=valid_from,
            valid_until=valid_until,
            levels=levels or [],
            role=role,
            pin_hash=self._pins.hash(pin) if pin else None,
            duress_pin_hash=self._pins.hash(duress_pin) if duress_pin else None,
            person_valid=person_valid,
            also=edits.hook(origin, by),
        )
        edits.committed()
        await self._journal.record(
            "audit",
            {
                "type": "person_added",
                "person_id": person_id,
                "person": name,
                "credentials": len(numbers),
                "levels": levels or [],
                "role": role,
                "pin": "set" if pin else None,
                "duress_pin": "set" if duress_pin else None,
                "valid_until": person_valid[1].isoformat() if person_valid[1] else None,
                "by": by,
            },
            source=f"console:{by}",
            summary=f"{by} enrolled {name}",
        )
        return person_id

    async def update_person(self, person_id: int, fields: dict[str, Any], by: str, origin: Origin = "api") -> None:
        """Change a person (suspend/activate, levels, role, validity, PIN, duress PIN); audited without PINs.

        Queued for HQ as a config_edit in the same transaction, unless only PINs or anti-passback changed (those
        stay on the box)."""
        secret = ("pin", "duress_pin")
        clear = frozenset(
            k for k in ("role", "valid_from", "valid_until", *secret) if k in fields and fields[k] is None
        )
        levels = fields.get("levels")
        if levels is not None:
            self._check_levels(levels)
        pin = fields.get("pin")
        duress_pin = fields.get("duress_pin")
        await self._check_duress_differs(person_id, fields)
        changes = PersonChanges(
            name=fields.get("name"),
            active=fields.get("active"),
            role=fields.get("role"),
            valid_from=fields.get("valid_from"),
            valid_until=fields.get("valid_until"),
            levels=tuple(levels) if levels is not None else None,
            pin_hash=self._pins.hash(pin) if pin else None,
            duress_pin_hash=self._pins.hash(duress_pin) if duress_pin else None,
            clear=frozenset(f"{k}_hash" if k in secret else k for k in clear),
        )
        edits = _EditJournal(self._journal, self._site_id, suspended=_suspension(fields.get("active")))
        shared = set(fields) - {"pin", "duress_pin", "reset_passback"}
        await self._credentials.update_person(person_id, changes, also=edits.hook(origin, by) if shared else None)
        edits.committed()
        if fields.get("reset_passback"):
            await self._passback.forget(person_id)
        shown = {k: v for k, v in fields.items() if k not in secret}
        for key in secret:
            if key in fields:
                shown[key] = "cleared" if fields[key] is None else "set"
        active = fields.get("active")
        verb = "suspended" if active is False else "activated" if active is True else "changed"
        await self._journal.record(
            "audit",
            {"type": "person_changed", "person_id": person_id, "changes": _jsonable(shown), "by": by},
            source=f"console:{by}",
            summary=f"{by} {verb} person {person_id} ({', '.join(sorted(shown))})",
        )

    @property
    def levels(self) -> frozenset[str]:
        """The access level ids people may hold (the box's config and HQ's document)."""
        return self._levels

    async def add_credential(
        self,
        person_id: int,
        number: str,
        by: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        how: str = "entered",
        origin: Origin = "console",
    ) -> str:
        """Give a person one more badge; audited (`how`: entered, tapped at a reader); queued for HQ. Return it."""
        edits = _EditJournal(self._journal, self._site_id)
        stored = await self._credentials.add_credential(
            person_id, number, valid_from=valid_from, valid_until=valid_until, also=edits.hook(origin, by)
        )
        edits.committed()
        await self._journal.record(
            "audit",
            {
                "type": "credential_added",
                "person_id": person_id,
                "credential": stored,
                "how": how,
                "valid_until": valid_until.isoformat() if valid_until else None,
                "by": by,
            },
            source=f"console:{by}",
            summary=f"{by} added badge {stored} to person {person_id} ({how})",
        )
        return stored

    async def revoke_credential(self, person_id: int, number: str, by: str, origin: Origin = "api") -> None:
        """Revoke one badge of a person (it stays known, not honoured); audited; queued for HQ, where it wins."""
        edits = _EditJournal(self._journal, self._site_id, revoked=[normalise_credential(number)])
        await self._credentials.set_credential_active(person_id, number, False, also=edits.hook(origin, by))
        edits.committed()
        await self._journal.record(
            "audit",
            {
                "type": "credential_revoked",
                "person_id": person_id,
                "credential": normalise_credential(number),
                "by": by,
            },
            source=f"console:{by}",
            summary=f"{by} revoked badge {normalise_credential(number)} of person {person_id}",
        )

    async def _check_duress_differs(self, person_id: int, fields: dict[str, Any]) -> None:
        """Refuse a duress PIN equal to the PIN, given together or one against the other one stored."""
        pin, duress_pin = fields.get("pin"), fields.get("duress_pin")
        if pin is None and duress_pin is None:
            return
        if "pin" in fields and "duress_pin" in fields:
            same = pin == duress_pin
        else:
            stored_pin, stored_duress = await self._credentials.pin_hashes(person_id)
            same = self._pins.verify(pin, stored_duress) if pin else self._pins.verify(duress_pin or "", stored_pin)
        if same:
            raise DuressPinConflict("the duress PIN must differ from the PIN")

    async def apply_credential_snapshot(self, snapshot: CredentialSnapshot, by: str = "cloud") -> SnapshotResult:
        """Apply a full or delta snapshot atomically (see edge.access.snapshot); audited."""
        try:
            self._check_levels([lv for person in snapshot.people for lv in person.levels])
        except UnknownLevel as err:
            raise SnapshotRejected(str(err)) from err
        pin_hashes = {
            p.id: (self._pins.hash(p.pin) if p.pin else None) for p in snapshot.people if "pin" in p.model_fields_set
        }
        duress_hashes = {
            p.id: (self._pins.hash(p.duress_pin) if p.duress_pin else None)
            for p in snapshot.people
            if "duress_pin" in p.model_fields_set
        }
        async with self._snapshot_lock:
            result = await apply_snapshot(self._db, snapshot, pin_hashes, duress_hashes, self._pins.verify)
            if result.applied:
                await self._credentials.changed()  # the next badge decides on the new set
        if result.applied:
            await self._journal.record(
                "audit",
                {"type": "credential_snapshot", "kind": snapshot.kind, "by": by, **result.as_json()},
                source=f"snapshot:{by}",
                summary=f"credential snapshot v{result.version} ({snapshot.kind}) applied: "
                f"+{result.added} ~{result.updated} -{result.removed}",
            )
        return result


def _suspension(active: object) -> bool | None:
    return None if active is None else not bool(active)


class _EditJournal:
    """Writes an edit's config_edit record inside the edit's transaction, then wakes the journal's listeners."""

    def __init__(
        self, journal: Journal, site_id: str, *, revoked: Iterable[str] = (), suspended: bool | None = None
    ) -> None:
        self._journal = journal
        self._site_id = site_id
        self._revoked = list(revoked)
        self._suspended = suspended
        self._entry: JournalEntry | None = None

    def hook(self, origin: Origin, by: str) -> Callable[[AsyncConnection, int], Awaitable[object]]:
        async def write(conn: AsyncConnection, person_id: int) -> None:
            self._entry = await journal_local_edit(
                conn,
                self._journal,
                self._site_id,
                person_id,
                origin=origin,
                by=by,
                revoked=self._revoked,
                suspended=self._suspended,
            )

        return write

    def committed(self) -> None:
        if self._entry is not None:
            self._journal.committed(self._entry)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
