"""The access decision: a pure function of credential, door schedule and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from edge.access.credentials import CredentialRecord
from edge.access.schedule import is_open
from edge.config import ScheduleConfig


class Reason(StrEnum):
    """Why access was granted or denied (recorded in the audit trail)."""

    GRANTED = "granted"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    CREDENTIAL_INACTIVE = "credential_inactive"
    PERSON_INACTIVE = "person_inactive"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUTSIDE_SCHEDULE = "outside_schedule"
    NO_DOOR = "reader_not_assigned"


@dataclass(frozen=True)
class Decision:
    """The outcome of one badge read."""

    granted: bool
    reason: Reason


def decide(
    credential: CredentialRecord | None,
    schedule: ScheduleConfig | None,
    now: datetime,
    tz: ZoneInfo,
) -> Decision:
    """Decide whether `credential` opens a door with `schedule` at `now`."""
    if credential is None:
        return Decision(False, Reason.UNKNOWN_CREDENTIAL)
    if not credential.active:
        return Decision(False, Reason.CREDENTIAL_INACTIVE)
    if not credential.person_active:
        return Decision(False, Reason.PERSON_INACTIVE)
    if credential.valid_from is not None and now < credential.valid_from:
        return Decision(False, Reason.NOT_YET_VALID)
    if credential.valid_until is not None and now >= credential.valid_until:
        return Decision(False, Reason.EXPIRED)
    if not is_open(schedule, now, tz):
        return Decision(False, Reason.OUTSIDE_SCHEDULE)
    return Decision(True, Reason.GRANTED)
