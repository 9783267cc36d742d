"""Wrong-PIN lockout: too many wrong PINs for one credential lock that credential out at every door for a while.

After `access.pin_lockout_attempts` wrong PINs for the same credential, with no correct PIN in between and all
within `access.pin_lockout_window_s`, the credential is denied (reason ``pin_lockout``) at every door for
`access.pin_lockout_s`; a correct PIN during the lockout does not open and does not end it. A correct (or duress)
PIN before the limit resets the count. Attempts 0 turns the lockout off.

State is in memory for the decision (read and updated without awaiting) and written behind to SQLite
(migration 4) through the database's writer connection: a write queued before the decision's audit record
commits with it or before it, so the decision waits on nothing the audit did not already wait on, and the reader's
receipt still comes only after both are on disk. Loaded at start, so a restart does not lift a lockout.

The start of a lockout is journaled once as an event ``type: "alarm", alarm: "pin_lockout", state: "raised"``
(credential and person, never the PIN); ``state: "cleared"`` follows when it expires or an operator clears it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from edge.access.credentials import CredentialRecord, as_utc
from edge.config import AccessConfig
from edge.storage.database import Database
from edge.storage.journal import Journal, JournalEntry
from edge.storage.schema import pin_lockouts

log = logging.getLogger(__name__)
ALARM = "pin_lockout"
_MAX_WAIT_S = 1.0  # the expiry watch re-reads the clock at least this often (a stepped clock is noticed)
_UPSERT = (
    "INSERT INTO pin_lockouts (credential, person_id, person, failures, door_id, locked_since, locked_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (credential) DO UPDATE SET person_id = excluded.person_id, "
    "person = excluded.person, failures = excluded.failures, door_id = excluded.door_id, "
    "locked_since = excluded.locked_since, locked_until = excluded.locked_until"
)
_DELETE = "DELETE FROM pin_lockouts WHERE credential = ?"


@dataclass(frozen=True)
class PinLockout:
    """An active lockout of one credential."""

    credential: str
    person_id: int | None
    person: str | None
    door_id: str | None  # where the last wrong PIN was entered
    since: datetime
    until: datetime

    def as_json(self) -> dict[str, object]:
        """Return the lockout as a JSON-ready dict."""
        return {
            "credential": self.credential,
            "person_id": self.person_id,
            "person": self.person,
            "door_id": self.door_id,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }


@dataclass
class _Entry:
    person_id: int | None
    person: str | None
    failures: list[datetime] = field(default_factory=list)
    lockout: PinLockout | None = None


class PinLockouts:
    """Wrong-PIN counts and lockouts per credential; see the module docstring."""

    def __init__(self, config: AccessConfig, db: Database, journal: Journal, *, clock: Callable[[], datetime]) -> None:
        self._attempts = config.pin_lockout_attempts
        self._window = timedelta(seconds=config.pin_lockout_window_s)
        self._duration = timedelta(seconds=config.pin_lockout_s)
        self._db = db
        self._journal = journal
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        dialect = db.engine.dialect
        self._encode_time = pin_lockouts.c.locked_until.type.dialect_impl(dialect).bind_processor(dialect)
        self._encode_json = pin_lockouts.c.failures.type.dialect_impl(dialect).bind_processor(dialect)
        assert self._encode_time is not None and self._encode_json is not None

    @property
    def enabled(self) -> bool:
        """False when `access.pin_lockout_attempts` is 0."""
        return self._attempts > 0

    async def load(self) -> None:
        """Read persisted counts and lockouts (at start, before the first badge)."""
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(select(pin_lockouts))).all()
        entries: dict[str, _Entry] = {}
        for r in rows:
            entry = _Entry(r.person_id, r.person, [datetime.fromisoformat(t) for t in r.failures or []])
            since, until = as_utc(r.locked_since), as_utc(r.locked_until)
            if since is not None and until is not None:
                entry.lockout = PinLockout(r.credential, r.person_id, r.person, r.door_id, since, until)
            entries[r.credential] = entry
        self._entries = entries

    async def start(self) -> None:
        """Clear lockouts that expired while the box was down, then watch for expiries."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="pin-lockout-expiry")

    async def stop(self) -> None:
        """Stop the expiry watch (state stays persisted)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- the decision's path: no awaits -----------------------------------------------------------------------

    def locked(self, credential: str, now: datetime) -> PinLockout | None:
        """Return the credential's lockout if one is in force at `now`."""
        entry = self._entries.get(credential)
        if not self.enabled or entry is None or entry.lockout is None or now >= entry.lockout.until:
            return None
        return entry.lockout

    def wrong_pin(self, credential: CredentialRecord, door_id: str, now: datetime) -> PinLockout | None:
        """Count a wrong PIN (queued for the database); return the lockout if this one started it."""
        if not self.enabled:
            return None
        entry = self._entries.setdefault(credential.number, _Entry(credential.person_id, credential.person_name))
        entry.person_id, entry.person = credential.person_id, credential.person_name
        if entry.lockout is not None:  # ended, and the expiry watch has not got to it yet: clear it first
            self._submit_cleared(entry.lockout, "expired", None).add_done_callback(_log_failure)
            entry.lockout = None
        entry.failures = [t for t in entry.failures if now - t < self._window] + [now]
        started: PinLockout | None = None
        if len(entry.failures) >= self._attempts:
            started = PinLockout(
                credential.number, credential.person_id, credential.person_name, door_id, now, now + self._duration
            )
            entry.lockout, entry.failures = started, []
            self._wake.set()
        self._persist(credential.number)
        return started

    def correct_pin(self, credential: str) -> None:
        """A correct PIN before the limit: forget the wrong ones."""
        entry = self._entries.get(credential)
        if entry is not None and entry.failures:
            entry.failures = []
            self._persist(credential)

    def raised(self, lockout: PinLockout) -> asyncio.Future[JournalEntry]:
        """Queue the lockout's alarm record; the future resolves once it is on disk."""
        log.warning("PIN lockout of credential %s (%s) until %s", lockout.credential, lockout.person, lockout.until)
        return self._journal.submit(
            "event",
            {
                "type": "alarm",
                "alarm": ALARM,
                "state": "raised",
                **lockout.as_json(),
                "detail": f"{self._attempts} wrong PINs",
            },
            source=lockout.door_id or "access",
            summary=f"ALARM PIN lockout of {lockout.person or lockout.credential} ({lockout.credential}) "
            f"after {self._attempts} wrong PINs",
            occurred_at=lockout.since,
        )

    # --- operators and expiry ---------------------------------------------------------------------------------

    def active(self, now: datetime | None = None) -> list[PinLockout]:
        """Lockouts in force, oldest first."""
        now = now or self._clock()
        found = (self.locked(number, now) for number in self._entries)
        return sorted((lk for lk in found if lk is not None), key=lambda lk: (lk.since, lk.credential))

    async def clear(self, credential: str, by: str) -> PinLockout | None:
        """End the credential's lockout (and forget its wrong PINs); return it, or None if none was in force."""
        lockout = self.locked(credential, self._clock())
        if lockout is None:
            return None
        entry = self._entries[credential]
        entry.lockout, entry.failures = None, []
        self._persist(credential)
        await self._submit_cleared(lockout, f"cleared by {by}", by)
        return lockout

    async def expire(self, now: datetime) -> list[PinLockout]:
        """Clear every lockout that ended at or before `now` (all of them when the lockout is turned off)."""
        ended: list[PinLockout] = []
        for number, entry in list(self._entries.items()):
            if entry.lockout is not None and (not self.enabled or now >= entry.lockout.until):
                ended.append(entry.lockout)
                entry.lockout = None
                self._persist(number)
        for lockout in ended:
            await self._submit_cleared(lockout, "expired" if self.enabled else "PIN lockout turned off", None)
        return ended

    async def _watch(self) -> None:
        while True:
            now = self._clock()
            await self.expire(now)
            ends = [e.lockout.until for e in self._entries.values() if e.lockout is not None]
            self._wake.clear()
            try:
                if ends:
                    wait = min(max((min(ends) - now).total_seconds(), 0.0), _MAX_WAIT_S)
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                else:
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _submit_cleared(self, lockout: PinLockout, detail: str, by: str | None) -> asyncio.Future[JournalEntry]:
        log.info("PIN lockout of credential %s %s", lockout.credential, detail)
        return self._journal.submit(
            "event",
            {"type": "alarm", "alarm": ALARM, "state": "cleared", **lockout.as_json(), "by": by, "detail": detail},
            source=lockout.door_id or "access",
            summary=f"PIN lockout of {lockout.person or lockout.credential} ({lockout.credential}) {detail}",
        )

    def _persist(self, credential: str) -> None:
        """Queue the credential's current state for the writer connection (write-behind; errors are logged)."""
        entry = self._entries.get(credential)
        params: tuple[Any, ...] | None = None
        if entry is not None and (entry.failures or entry.lockout is not None):
            lockout = entry.lockout
            params = (
                credential,
                entry.person_id,
                entry.person,
                self._encode_json([t.isoformat() for t in entry.failures]),  # type: ignore[misc]
                lockout.door_id if lockout else None,
                self._encode_time(lockout.since) if lockout else None,  # type: ignore[misc]
                self._encode_time(lockout.until) if lockout else None,  # type: ignore[misc]
            )
        else:
            self._entries.pop(credential, None)

        def write(conn: sqlite3.Connection) -> None:
            if params is None:
                conn.execute(_DELETE, (credential,))
            else:
                conn.execute(_UPSERT, params)

        self._db.writer.submit(write).add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("PIN lockout state not saved: %s", future.exception())
