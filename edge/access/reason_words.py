"""Access decision reasons in words, for people reading the timeline (one table for the console and its CSV)."""

from __future__ import annotations

from types import MappingProxyType

from edge.access.decision import Reason

# Every code `edge.access.decision.Reason` can record (tests/edge/access/test_reason_words.py checks the cover).
REASON_WORDS = MappingProxyType(
    {
        Reason.GRANTED: "access granted",
        Reason.UNKNOWN_CREDENTIAL: "unknown card",
        Reason.UNKNOWN_VEHICLE: "unknown vehicle plate",
        Reason.CREDENTIAL_INACTIVE: "card deactivated",
        Reason.SUSPENDED: "person suspended",
        Reason.NOT_YET_VALID: "not valid yet",
        Reason.EXPIRED: "validity expired",
        Reason.NO_ACCESS_LEVEL: "no access level for this door",
        Reason.OUTSIDE_SCHEDULE: "outside schedule",
        Reason.LOCKDOWN: "lockdown",
        Reason.PIN_REQUIRED: "waiting for the PIN",
        Reason.WRONG_PIN: "wrong PIN",
        Reason.PIN_NOT_SET: "no PIN set for this person",
        Reason.PIN_TIMEOUT: "PIN entered too late",
        Reason.PIN_LOCKOUT: "card locked after wrong PINs",
        Reason.PASSBACK: "anti-passback: already inside",
        Reason.TWO_PERSON_PENDING: "waiting for a second person",
        Reason.NO_DOOR: "reader not assigned to a door",
    }
)


def reason_in_words(code: object) -> str | None:
    """The words for a recorded reason code; None if `code` is not a string; the code itself if unknown."""
    if not isinstance(code, str):
        return None
    try:
        return REASON_WORDS[Reason(code)]
    except ValueError:  # a code from a newer release read by an older one: show it as stored
        return code.replace("_", " ")
