"""People and their credentials in the edge database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from edge.storage.database import Database
from edge.storage.schema import credentials, people


@dataclass(frozen=True)
class CredentialRecord:
    """A credential joined with its holder."""

    number: str
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None
    person_id: int
    person_name: str
    person_active: bool


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class CredentialStore:
    """Looks up and records people and credentials."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def lookup(self, number: str) -> CredentialRecord | None:
        """Return the credential with this number and its holder, if known."""
        query = (
            select(
                credentials.c.number,
                credentials.c.active,
                credentials.c.valid_from,
                credentials.c.valid_until,
                people.c.id,
                people.c.name,
                people.c.active.label("person_active"),
            )
            .join(people, people.c.id == credentials.c.person_id)
            .where(credentials.c.number == number)
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return CredentialRecord(
            row.number,
            row.active,
            _aware(row.valid_from),
            _aware(row.valid_until),
            row.id,
            row.name,
            row.person_active,
        )

    async def add_person(
        self,
        name: str,
        numbers: list[str],
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        active: bool = True,
    ) -> int:
        """Create a person with credentials in one transaction; return the person id."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                insert(people).values(name=name, active=active, created_at=datetime.now(UTC))
            )
            person_id = int(result.inserted_primary_key[0])
            for number in numbers:
                await conn.execute(
                    insert(credentials).values(
                        person_id=person_id,
                        number=number,
                        active=True,
                        valid_from=valid_from,
                        valid_until=valid_until,
                    )
                )
        return person_id

    async def list_people(self) -> list[dict[str, object]]:
        """Return people with their credential numbers."""
        query = (
            select(people.c.id, people.c.name, people.c.active, credentials.c.number)
            .outerjoin(credentials, credentials.c.person_id == people.c.id)
            .order_by(people.c.name)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out: dict[int, dict[str, object]] = {}
        for r in rows:
            entry = out.setdefault(r.id, {"id": r.id, "name": r.name, "active": r.active, "credentials": []})
            if r.number is not None:
                entry["credentials"].append(r.number)  # type: ignore[attr-defined]
        return list(out.values())
