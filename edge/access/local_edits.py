"""Edits made on the box to people and badges, journaled for the cloud and remembered for reconciliation.

Each edit (console/API: add a person, change or suspend one, revoke a badge) writes, in the SAME transaction as
the edit itself, an outbox record of kind ``config_edit`` whose payload is a `sync.downlink.LocalEdit` (the
person as it is after the edit), so an edit is never on the box without being queued for HQ, nor the reverse.
For a cloud-managed person it also records the edit in `person_local_edits`: the next cloud document is then
reconciled with it (edge.access.site_config; docs/SYNC.md "Downlink").

People enrolled on the box have no cloud id; they travel as ``<site_id>/p<local id>`` (`local_cloud_id`), and a
cloud document listing that id adopts the local person instead of enrolling a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.access.credentials import as_utc
from edge.storage.journal import Journal, JournalEntry
from edge.storage.schema import credentials, people, person_access, person_levels, person_local_edits, site_config
from sync.downlink import ConfigCredential, ConfigPerson, LocalEdit

Origin = Literal["console", "api"]
_ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def local_cloud_id(site_id: str, person_id: int) -> str:
    """The id under which a person enrolled on the box is known to the cloud."""
    return f"{site_id}/p{person_id}"[-64:]


async def journal_local_edit(
    conn: AsyncConnection,
    journal: Journal,
    site_id: str,
    person_id: int,
    *,
    origin: Origin,
    by: str,
    revoked: Iterable[str] = (),
    suspended: bool | None = None,
) -> JournalEntry:
    """Queue the person's state after an edit as a ``config_edit`` record, inside the edit's transaction.

    `revoked`: badges this edit revoked; `suspended`: True if it suspended the person, False if it reactivated
    them (None: neither). Call `journal.committed(entry)` after the commit.
    """
    now = datetime.now(UTC)
    base = int((await conn.execute(select(site_config.c.version))).scalar() or 0)
    person, external_id = await _person(conn, site_id, person_id, now)
    revoked = sorted(set(revoked))
    if external_id is not None:
        row = (
            await conn.execute(select(person_local_edits).where(person_local_edits.c.person_id == person_id))
        ).first()
        pending = sorted(set(row.revoked if row else []) | set(revoked))
        was_suspended = bool(row.suspended) if row else False
        now_suspended = was_suspended if suspended is None else suspended
        values = {"edited_at": now, "base_version": base, "revoked": pending, "suspended": now_suspended}
        if row is None:
            await conn.execute(insert(person_local_edits).values(person_id=person_id, **values))
        else:
            await conn.execute(
                update(person_local_edits).where(person_local_edits.c.person_id == person_id).values(**values)
            )
    edit = LocalEdit(person=person, origin=origin, revoked=revoked, base_version=base)
    what = f"revoked {', '.join(revoked)} of" if revoked else "edited"
    return await journal.record_in(
        conn,
        "config_edit",
        edit.model_dump(mode="json"),
        source=f"{origin}:{by}",
        summary=f"{by} {what} {person.name} on the box (queued for HQ)",
    )


async def _person(
    conn: AsyncConnection, site_id: str, person_id: int, now: datetime
) -> tuple[ConfigPerson, str | None]:
    person = (await conn.execute(select(people).where(people.c.id == person_id))).one()
    extra = (await conn.execute(select(person_access).where(person_access.c.person_id == person_id))).first()
    creds = (
        await conn.execute(
            select(credentials).where(credentials.c.person_id == person_id).order_by(credentials.c.number)
        )
    ).all()
    levels = (
        await conn.execute(select(person_levels.c.level_id).where(person_levels.c.person_id == person_id))
    ).scalars()
    external_id = extra.external_id if extra else None
    role = extra.role if extra else None
    return (
        ConfigPerson(
            id=external_id or local_cloud_id(site_id, person_id),
            name=person.name,
            active=person.active,
            role=role if role and _ROLE.match(role) else None,
            valid_from=as_utc(extra.valid_from) if extra else None,
            valid_until=as_utc(extra.valid_until) if extra else None,
            levels=sorted(levels)[:64],
            credentials=[
                ConfigCredential(
                    number=c.number,
                    active=c.active,
                    valid_from=as_utc(c.valid_from),
                    valid_until=as_utc(c.valid_until),
                )
                for c in creds[:32]
            ],
            updated_at=now,
        ),
        external_id,
    )
