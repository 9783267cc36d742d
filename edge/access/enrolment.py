"""Enrolment by tap: the next unknown card read at a chosen reader within a short window becomes a person's badge.

An operator arms a reader for a person (`EnrolmentDesk.arm`); the access path (`AccessService.on_badge`) asks
`claim` on every read of a card it does not know. A claimed read is still decided and audited as an unknown
credential (the door stays shut), then bound to the person through `bind` (the people administration, audited and
queued for HQ like any badge added on the box). One enrolment per reader; arming again replaces the previous one.
A known card never enrols: it belongs to someone already.

The state is in memory only and short-lived (seconds): a restart forgets it, and the operator arms again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from edge.access.credentials import CredentialFormatError, CredentialInUse, UnknownPerson

log = logging.getLogger(__name__)

EnrolmentState = Literal["waiting", "enrolled", "failed", "expired", "cancelled"]
Binder = Callable[["Enrolment", str], Awaitable[str]]  # returns the number as stored


@dataclass
class Enrolment:
    """One armed reader waiting for a card for one person."""

    reader_id: str
    person_id: int
    by: str
    expires_at: datetime
    state: EnrolmentState = "waiting"
    credential: str | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def finish(self, state: EnrolmentState, *, credential: str | None = None, error: str | None = None) -> None:
        """Settle the enrolment (once) and wake whoever waits on it."""
        if self.state != "waiting":
            return
        self.state, self.credential, self.error = state, credential, error
        self.done.set()

    def as_json(self) -> dict[str, object]:
        """The enrolment for the console page that waits on it."""
        return {
            "reader_id": self.reader_id,
            "person_id": self.person_id,
            "state": self.state,
            "credential": self.credential,
            "error": self.error,
            "expires_at": self.expires_at.isoformat(),
        }


class EnrolmentDesk:
    """Armed readers (at most one enrolment each) and the latest enrolment of each person."""

    def __init__(self, bind: Binder, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._bind = bind
        self._clock = clock
        self._by_reader: dict[str, Enrolment] = {}
        self._by_person: dict[int, Enrolment] = {}

    def arm(self, reader_id: str, person_id: int, by: str, seconds: float) -> Enrolment:
        """Bind the next unknown card read at `reader_id` within `seconds` to `person_id`."""
        for old in (self._by_reader.pop(reader_id, None), self._by_person.get(person_id)):
            if old is not None:
                self._drop(old, "cancelled")
        enrolment = Enrolment(reader_id, person_id, by, self._clock() + timedelta(seconds=seconds))
        self._by_reader[reader_id] = enrolment
        self._by_person[person_id] = enrolment
        return enrolment

    def of_person(self, person_id: int) -> Enrolment | None:
        """The person's latest enrolment (settled as expired once its window has passed)."""
        enrolment = self._by_person.get(person_id)
        if enrolment is not None and enrolment.state == "waiting" and self._clock() > enrolment.expires_at:
            self._drop(enrolment, "expired")
        return enrolment

    def forget(self, person_id: int) -> None:
        """Drop the person's settled enrolment (its outcome was shown); a waiting one stays."""
        enrolment = self._by_person.get(person_id)
        if enrolment is not None and enrolment.state != "waiting":
            del self._by_person[person_id]

    def cancel(self, person_id: int) -> Enrolment | None:
        """Stop waiting for the person's card; return the enrolment that was waiting, if any."""
        enrolment = self._by_person.get(person_id)
        if enrolment is None or enrolment.state != "waiting":
            return None
        self._drop(enrolment, "cancelled")
        return enrolment

    def claim(self, reader_id: str, now: datetime) -> Enrolment | None:
        """The enrolment waiting at `reader_id` (taken off the reader), if one is armed and not expired.

        Called by the access path for a card it does not know, without an await: two reads racing at one reader
        cannot both claim it.
        """
        enrolment = self._by_reader.pop(reader_id, None)
        if enrolment is None:
            return None
        if now > enrolment.expires_at:
            enrolment.finish("expired")
            return None
        return enrolment

    async def bind(self, enrolment: Enrolment, credential: str) -> None:
        """Make `credential` the person's badge; settle the enrolment with the outcome."""
        try:
            number = await self._bind(enrolment, credential)
        except (CredentialInUse, CredentialFormatError, UnknownPerson) as err:
            log.warning("enrolment at %s for person %s failed: %s", enrolment.reader_id, enrolment.person_id, err)
            enrolment.finish("failed", credential=credential, error=str(err) or type(err).__name__)
            return
        enrolment.finish("enrolled", credential=number)

    def _drop(self, enrolment: Enrolment, state: EnrolmentState) -> None:
        if self._by_reader.get(enrolment.reader_id) is enrolment:
            del self._by_reader[enrolment.reader_id]
        enrolment.finish(state)
