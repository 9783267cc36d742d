"""The cloud-managed site configuration on the edge: validate a `SiteConfigDocument`, apply it atomically, overlay it.

A document has two parts (docs/SYNC.md "Downlink"):

- people and badges: written through the credential snapshot path (`edge.access.snapshot.replace_people`) as a
  FULL snapshot of the cloud-managed people (people enrolled on the box stay; PINs stay local);
- policy (access levels, schedules, holiday calendars, door policies): stored in `site_config` and overlaid on
  the box's TOML config for decisions. Levels, schedules and calendars are added or replace the box's by id; a
  door policy overrides the fields it sets of a door the box's config has.

The whole document is validated first against the box's config (unknown door ids, a level naming an unknown
schedule or door, a schedule naming an unknown holiday calendar, a person holding an unknown level, a badge
listed twice or enrolled on the box for someone else): a refused document changes nothing. Both parts are written
in ONE transaction, so after a crash or restart the last applied document is in force, whole.

Reconciliation with edits made on the box (`person_local_edits`, written by `edge.access.local_edits`): a revoke
made here (badge revoked, person suspended) stays until a document shows it (revoke wins); otherwise a person
edited here after the document's `updated_at` for them keeps the local version until the cloud's document is
newer than the edit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.access.alarms import AlarmBook
from edge.access.credentials import CredentialFormatError, as_utc, normalise_credential
from edge.access.hq_acks import apply_hq_acks
from edge.access.local_edits import local_cloud_id
from edge.access.people import PeopleAdmin
from edge.access.snapshot import (
    CredentialSnapshot,
    SnapshotCredential,
    SnapshotPerson,
    SnapshotRejected,
    replace_people,
)
from edge.config import EdgeConfig
from edge.rules.references import reference_errors
from edge.rules.store import RuleStore
from edge.storage.database import Database
from edge.storage.journal import Journal
from edge.storage.schema import (
    access_snapshot,
    credentials,
    local_policy,
    people,
    person_access,
    person_levels,
    person_local_edits,
    site_config,
)
from sync.downlink import ConfigPerson, PlanLimits, SiteConfigDocument
from sync.policy import AccessLevel, DoorPolicy, HolidayCalendar, Schedule, Vehicle
from sync.puller import ConfigOutcome

log = logging.getLogger(__name__)


class ConfigRefused(ValueError):
    """The document cannot be applied as a whole; the message is the reason reported to the cloud."""


class SitePolicy(BaseModel):
    """The policy part of a document, as stored in `site_config.policy`."""

    model_config = ConfigDict(extra="forbid")

    access_levels: dict[str, AccessLevel] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    holidays: dict[str, HolidayCalendar] = Field(default_factory=dict)
    doors: dict[str, DoorPolicy] = Field(default_factory=dict)
    # The plan's per-site allowances (billing): kept to show going over on the console; enforces nothing.
    limits: PlanLimits | None = Field(default=None)
    vehicles: list[Vehicle] | None = Field(default=None)  # HQ's fleet register, merged over the box's list

    @classmethod
    def of(cls, doc: SiteConfigDocument) -> SitePolicy:
        """The policy part of `doc`."""
        return cls(
            access_levels=doc.access_levels,
            schedules=doc.schedules,
            holidays=doc.holidays,
            doors=doc.doors,
            limits=doc.limits,
            vehicles=doc.vehicles,
        )


def effective_config(config: EdgeConfig, policy: SitePolicy) -> EdgeConfig:
    """Return the box's config with `policy` overlaid, validated as a whole; raise ConfigRefused with the reason."""
    door_ids = {d.id for d in config.doors}
    unknown = sorted(set(policy.doors) - door_ids)
    if unknown:
        raise ConfigRefused(f"doors: unknown door(s) {', '.join(unknown)} (not in this site's config)")
    data = config.model_dump()
    data["schedules"] = {**data["schedules"], **{k: v.model_dump() for k, v in policy.schedules.items()}}
    data["holidays"] = {**data["holidays"], **{k: v.model_dump() for k, v in policy.holidays.items()}}
    data["access"]["levels"] = {
        **data["access"]["levels"],
        **{k: v.model_dump() for k, v in policy.access_levels.items()},
    }
    if policy.vehicles is not None:
        by_plate = {v["plate"]: v for v in data["access"]["vehicles"]}
        by_plate.update({v.plate: v.model_dump() for v in policy.vehicles})
        data["access"]["vehicles"] = list(by_plate.values())
    for door in data["doors"]:
        override = policy.doors.get(door["id"])
        if override is not None:
            door.update(override.model_dump(exclude_none=True))
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigRefused(_reason(err)) from err


async def stored_policy(db: Database) -> tuple[int, SitePolicy | None]:
    """Return (version, policy) of the last applied document; (0, None) when none was."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(site_config.c.version, site_config.c.policy))).first()
    if row is None:
        return 0, None
    return int(row.version), SitePolicy.model_validate(row.policy)


async def stored_local_policy(db: Database) -> SitePolicy:
    """The door settings, schedules and holiday calendars edited in the console (empty when none were)."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(local_policy.c.policy))).first()
    return SitePolicy() if row is None else SitePolicy.model_validate(row.policy)


async def local_base_config(db: Database, config: EdgeConfig) -> EdgeConfig:
    """The box's config with the console's edits overlaid: what a cloud document is overlaid on.

    Edits that no longer fit the box's config (a door removed from the TOML meanwhile) are left out and the
    reason logged.
    """
    local = await stored_local_policy(db)
    try:
        return effective_config(config, local)
    except ConfigRefused as err:
        log.error("console edits no longer fit this box's config (%s): using the box's config alone", err)
        return config


async def load_effective_config(db: Database, config: EdgeConfig) -> EdgeConfig:
    """The box's config with the console's edits and then the last applied document's policy overlaid (at start:
    a restart keeps both in force; HQ's values win over the console's).

    If the stored policy no longer fits the box's config (a door removed from the TOML meanwhile), the box's
    config (with the console's edits) alone is used and the reason logged; the next document from the cloud is
    validated afresh.
    """
    base = await local_base_config(db, config)
    version, policy = await stored_policy(db)
    if policy is None:
        return base
    try:
        return effective_config(base, policy)
    except ConfigRefused as err:
        log.error("site config v%d no longer fits this box's config (%s): using the box's config alone", version, err)
        return base


PolicyListener = Callable[[EdgeConfig], Awaitable[None]]


@dataclass
class _Reconciled:
    people: list[SnapshotPerson]
    clear: list[int]  # person ids whose local edit the document now reflects
    keep: dict[int, tuple[list[str], bool]]  # person id -> (revokes still pending, suspension still pending)
    local_wins: int


class SiteConfigApplier:
    """Applies cloud documents to this box (the puller's `ConfigSink`); serialised by the people admin's lock."""

    def __init__(
        self,
        config: EdgeConfig,
        db: Database,
        people_admin: PeopleAdmin,
        journal: Journal,
        *,
        on_policy: PolicyListener | None = None,
        lock: asyncio.Lock | None = None,
        alarms: AlarmBook | None = None,
    ) -> None:
        self._config = config
        # Shared with the console's policy edits (edge.access.policy_edits): one of them recompiles at a time.
        self._lock = lock or asyncio.Lock()
        self._db = db
        self._people = people_admin
        self._journal = journal
        self._on_policy = on_policy
        self._alarms = alarms  # where HQ's alarm acknowledgements go (edge.access.hq_acks); None: ignored
        self.applied = 0
        self.refused = 0

    async def applied_version(self) -> int:
        """The version of the document in force (0: none yet)."""
        return (await stored_policy(self._db))[0]

    async def apply(self, doc: SiteConfigDocument) -> ConfigOutcome:
        """Validate and apply `doc` atomically; a refusal changes nothing and says why.

        HQ's alarm acknowledgements in it are applied first and either way: they do not depend on the rest.
        """
        if self._alarms is not None and doc.alarm_acks and doc.site_id == self._config.site.id:
            await apply_hq_acks(self._alarms, doc.alarm_acks)
        return await self._apply_locked(doc)

    async def _apply_locked(self, doc: SiteConfigDocument) -> ConfigOutcome:
        try:
            async with self._lock:
                outcome = await self._apply(doc)
        except ConfigRefused as err:
            self.refused += 1
            log.warning("site config v%d refused: %s", doc.version, err)
            await self._journal.record(
                "audit",
                {"type": "site_config_refused", "version": doc.version, "reason": str(err)},
                source="cloud",
                summary=f"site configuration v{doc.version} from the cloud refused: {err}",
            )
            return ConfigOutcome(applied=False, reason=str(err))
        self.applied += 1
        return outcome

    async def _apply(self, doc: SiteConfigDocument) -> ConfigOutcome:
        if doc.site_id != self._config.site.id:
            raise ConfigRefused(f"document is for site {doc.site_id!r}, this is {self._config.site.id!r}")
        previous = await self.applied_version()
        if doc.version <= previous:
            raise ConfigRefused(f"version {doc.version} is not newer than the applied version {previous}")
        policy = SitePolicy.of(doc)
        effective = effective_config(await local_base_config(self._db, self._config), policy)
        levels = set(effective.access.levels)
        for person in doc.people:
            unknown = sorted(set(person.levels) - levels)
            if unknown:
                raise ConfigRefused(f"people.{person.id}: unknown access level(s) {', '.join(unknown)}")
        try:
            # Checks the people as a snapshot would (ids unique, badges well-formed and listed once).
            converted = [_snapshot_person(p) for p in doc.people]
            CredentialSnapshot(version=doc.version, people=converted)
        except ValidationError as err:
            raise ConfigRefused(_reason(err)) from err

        for rule in doc.rules or []:
            problems = reference_errors(rule, effective)
            if problems:
                raise ConfigRefused(f"rules.{rule.id}: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))

        async def write(conn: AsyncConnection) -> _Reconciled:
            now = datetime.now(UTC)
            # A write first: the transaction (BEGIN) then covers every read below.
            values = {"version": doc.version, "issued_at": doc.issued_at, "applied_at": now, "policy": _json(policy)}
            stamped = await conn.execute(update(site_config).where(site_config.c.id == 1).values(**values))
            if stamped.rowcount == 0:
                await conn.execute(insert(site_config).values(id=1, **values))
            if doc.rules is not None:
                await RuleStore.replace_cloud_rules(conn, doc.rules)
            await _adopt_local_people(conn, doc)
            reconciled = await _reconcile(conn, doc, converted)
            # Only the people that differ from what is stored are rewritten (a delta of the full document):
            # a revoke in a document of 10,000 people costs one person's statements, not 10,000 people's.
            stored = await _managed_people(conn)
            changed = [p for p in reconciled.people if stored.get(p.id) != _fingerprint(p)]
            gone = sorted(set(stored) - {p.id for p in reconciled.people})
            snapshot = CredentialSnapshot(version=doc.version, kind="delta", people=changed, removed=gone)
            await replace_people(conn, snapshot, {}, {}, None, now)
            stamp = await conn.execute(
                update(access_snapshot)
                .where(access_snapshot.c.id == 1, access_snapshot.c.version < doc.version)
                .values(version=doc.version, applied_at=now)
            )
            if stamp.rowcount == 0 and (await conn.execute(select(access_snapshot.c.id))).first() is None:
                await conn.execute(insert(access_snapshot).values(id=1, version=doc.version, applied_at=now))
            if reconciled.clear:
                await conn.execute(
                    delete(person_local_edits).where(person_local_edits.c.person_id.in_(reconciled.clear))
                )
            for person_id, (revoked, suspended) in reconciled.keep.items():
                await conn.execute(
                    update(person_local_edits)
                    .where(person_local_edits.c.person_id == person_id)
                    .values(revoked=revoked, suspended=suspended)
                )
            return reconciled

        try:
            reconciled = await self._people.in_transaction(write)
        except (IntegrityError, SnapshotRejected) as err:
            raise ConfigRefused(
                "a badge in the document belongs to a person enrolled on the box (not cloud-managed)"
            ) from err
        except ValidationError as err:
            raise ConfigRefused(_reason(err)) from err
        self._people.set_levels(effective.access.levels)
        if self._on_policy is not None:
            await self._on_policy(effective)

        log.info("site config v%d applied (%d people)", doc.version, len(doc.people))
        await self._journal.record(
            "audit",
            {
                "type": "site_config_applied",
                "version": doc.version,
                "previous_version": previous,
                "people": len(doc.people),
                "local_kept": reconciled.local_wins,
                "pending_revokes": len(reconciled.keep),
            },
            source="cloud",
            summary=f"site configuration v{doc.version} from the cloud applied ({len(doc.people)} people)",
        )
        return ConfigOutcome(applied=True)


def _json(policy: SitePolicy) -> dict[str, Any]:
    return policy.model_dump(mode="json", exclude_defaults=True)


def _reason(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where + ': ' if where else ''}{message}"


def _snapshot_person(person: ConfigPerson, revoked: Iterable[str] = (), suspended: bool = False) -> SnapshotPerson:
    """The document's person as a snapshot person (no PIN keys: PINs stay local); `revoked` badges forced off.

    Built without validating again: a `ConfigPerson` is valid as a `SnapshotPerson` (same field constraints),
    and re-validating 10,000 people costs about a second on the 2-core box. The set fields exclude the PINs.
    """
    off = set(revoked)
    return SnapshotPerson.model_construct(
        id=person.id,
        name=person.name,
        active=person.active and not suspended,
        role=person.role,
        valid_from=person.valid_from,
        valid_until=person.valid_until,
        levels=list(person.levels),
        credentials=[
            SnapshotCredential.model_construct(
                number=c.number,
                active=c.active and (not off or _normal(c.number) not in off),
                valid_from=c.valid_from,
                valid_until=c.valid_until,
            )
            for c in person.credentials
        ],
    )


def _normal(number: str) -> str:
    try:
        return normalise_credential(number)
    except CredentialFormatError:
        return number


Fingerprint = tuple[Any, ...]


def _fingerprint(person: SnapshotPerson) -> Fingerprint:
    """What the document says of a person, comparable with `_managed_people` (PINs are not part of it)."""
    return (
        person.name,
        person.active,
        person.role,
        as_utc(person.valid_from),
        as_utc(person.valid_until),
        tuple(sorted(set(person.levels))),
        tuple(
            sorted(
                (_normal(c.number), c.active, as_utc(c.valid_from), as_utc(c.valid_until)) for c in person.credentials
            )
        ),
    )


async def _managed_people(conn: AsyncConnection) -> dict[str, Fingerprint]:
    """The cloud-managed people as stored, by cloud id, in four queries (not one per person)."""
    managed = person_access.c.external_id.is_not(None)
    rows = (
        await conn.execute(
            select(
                people.c.id,
                people.c.name,
                people.c.active,
                person_access.c.external_id,
                person_access.c.role,
                person_access.c.valid_from,
                person_access.c.valid_until,
            )
            .join(person_access, person_access.c.person_id == people.c.id)
            .where(managed)
        )
    ).all()
    levels: dict[int, list[str]] = {}
    level_rows = await conn.execute(
        select(person_levels.c.person_id, person_levels.c.level_id)
        .join(person_access, person_access.c.person_id == person_levels.c.person_id)
        .where(managed)
    )
    for row in level_rows:
        levels.setdefault(row.person_id, []).append(row.level_id)
    creds: dict[int, list[tuple[Any, ...]]] = {}
    cred_rows = await conn.execute(
        select(credentials).join(person_access, person_access.c.person_id == credentials.c.person_id).where(managed)
    )
    for row in cred_rows:
        creds.setdefault(row.person_id, []).append(
            (row.number, bool(row.active), as_utc(row.valid_from), as_utc(row.valid_until))
        )
    return {
        row.external_id: (
            row.name,
            bool(row.active),
            row.role,
            as_utc(row.valid_from),
            as_utc(row.valid_until),
            tuple(sorted(set(levels.get(row.id, [])))),
            tuple(sorted(creds.get(row.id, []))),
        )
        for row in rows
    }


async def _adopt_local_people(conn: AsyncConnection, doc: SiteConfigDocument) -> None:
    """People enrolled on the box that HQ now lists (by `local_cloud_id`) become cloud-managed, not doubled."""
    for person in doc.people:
        head, sep, tail = person.id.rpartition("/p")
        if not sep or not tail.isascii() or not tail.isdigit() or local_cloud_id(doc.site_id, int(tail)) != person.id:
            continue
        person_id = int(tail)
        if (await conn.execute(select(people.c.id).where(people.c.id == person_id))).first() is None:
            continue
        extra = (
            await conn.execute(select(person_access.c.external_id).where(person_access.c.person_id == person_id))
        ).first()
        if extra is None:
            await conn.execute(insert(person_access).values(person_id=person_id, external_id=person.id))
        elif extra.external_id is None:
            await conn.execute(
                update(person_access).where(person_access.c.person_id == person_id).values(external_id=person.id)
            )


async def _reconcile(conn: AsyncConnection, doc: SiteConfigDocument, converted: list[SnapshotPerson]) -> _Reconciled:
    """Merge the box's pending local edits into the document's people (module docstring: the rule)."""
    rows = (
        await conn.execute(
            select(person_local_edits, person_access.c.external_id).join(
                person_access, person_access.c.person_id == person_local_edits.c.person_id
            )
        )
    ).all()
    edits = {row.external_id: row for row in rows if row.external_id is not None}
    out = _Reconciled([], [], {}, 0)
    for person, as_snapshot in zip(doc.people, converted, strict=True):
        edit = edits.get(person.id)
        if edit is None:
            out.people.append(as_snapshot)
            continue
        edited_at = as_utc(edit.edited_at)
        assert edited_at is not None
        if edited_at > person.updated_at:
            # Edited here after the cloud's version of this person: the local version stays until the cloud's
            # document is newer than the edit (it has then seen it: the edit travelled up as a config_edit).
            out.people.append(await _local_person(conn, edit.person_id, person.id))
            out.local_wins += 1
            continue
        active_in_doc = {_normal(c.number) for c in person.credentials if c.active}
        pending = sorted(set(edit.revoked) & active_in_doc)  # a revoke wins until a document shows it
        suspended = bool(edit.suspended) and person.active
        out.people.append(_snapshot_person(person, pending, suspended))
        if pending or suspended:
            out.keep[edit.person_id] = (pending, suspended)
        else:
            out.clear.append(edit.person_id)
    return out


async def _local_person(conn: AsyncConnection, person_id: int, external_id: str) -> SnapshotPerson:
    """The person as stored on the box now, as a snapshot person (PINs untouched)."""
    person = (await conn.execute(select(people).where(people.c.id == person_id))).one()
    extra = (await conn.execute(select(person_access).where(person_access.c.person_id == person_id))).one()
    creds = (await conn.execute(select(credentials).where(credentials.c.person_id == person_id))).all()
    levels = (
        await conn.execute(select(person_levels.c.level_id).where(person_levels.c.person_id == person_id))
    ).scalars()
    return SnapshotPerson(
        id=external_id,
        name=person.name,
        active=person.active,
        role=extra.role,
        valid_from=as_utc(extra.valid_from),
        valid_until=as_utc(extra.valid_until),
        levels=list(levels),
        credentials=[
            SnapshotCredential(
                number=c.number, active=c.active, valid_from=as_utc(c.valid_from), valid_until=as_utc(c.valid_until)
            )
            for c in creds
        ],
    )
