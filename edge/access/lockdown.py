"""Lockdown of the whole site or of one zone, persisted so that a restart does not lift it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from edge.access.credentials import as_utc
from edge.storage.database import Database
from edge.storage.schema import lockdowns

SITE = "site"


def scope_key(zone: str | None) -> str:
    """Return the stored scope of a lockdown: 'site' or 'zone:<id>'."""
    return SITE if zone is None else f"zone:{zone}"


@dataclass(frozen=True)
class Lockdown:
    """An active lockdown."""

    zone: str | None  # None: the whole site
    since: datetime
    set_by: str
    reason: str

    def as_json(self) -> dict[str, object]:
        """Return the lockdown as a JSON-ready dict."""
        return {"zone": self.zone, "since": self.since.isoformat(), "set_by": self.set_by, "reason": self.reason}


class LockdownState:
    """Active lockdowns, in memory for decisions and in the database for restarts."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._active: dict[str, Lockdown] = {}

    async def load(self) -> None:
        """Read active lockdowns (at start)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(lockdowns))).all()
        self._active = {}
        for r in rows:
            zone = None if r.scope == SITE else r.scope.removeprefix("zone:")
            self._active[r.scope] = Lockdown(zone, as_utc(r.since) or r.since, r.set_by, r.reason)

    def applies(self, zone: str) -> bool:
        """Return True if a door into `zone` is locked down."""
        return SITE in self._active or scope_key(zone) in self._active

    def active(self) -> list[Lockdown]:
        """Return active lockdowns, the site's first."""
        return sorted(self._active.values(), key=lambda lock: (lock.zone is not None, lock.zone or ""))

    async def set(self, zone: str | None, active: bool, by: str, reason: str) -> bool:
        """Start or lift a lockdown; return True if that changed anything."""
        key = scope_key(zone)
        if active == (key in self._active):
            return False
        async with self._db.engine.begin() as conn:
            if active:
                since = datetime.now(UTC)
                await conn.execute(insert(lockdowns).values(scope=key, since=since, set_by=by, reason=reason))
                self._active[key] = Lockdown(zone, since, by, reason)
            else:
                await conn.execute(delete(lockdowns).where(lockdowns.c.scope == key))
                del self._active[key]
        return True
