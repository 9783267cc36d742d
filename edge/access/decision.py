"""The access decision: a pure function of credential, door, access levels, time and site conditions.

Checks run in this order and the first failing one is the recorded reason, so the audit trail says the
most basic thing that was wrong: unknown card, then card/person state and validity, then a wrong-PIN lockout
of the card, then levels and schedules, then lockdown, then PIN, then anti-passback. The two-person rule is
applied by the service after a grant, because it depends on the badge before this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from edge.access.credentials import CredentialRecord
from edge.access.schedule import Schedule
from edge.config import DoorConfig, EdgeConfig


class Reason(StrEnum):
    """Why access was granted or denied (recorded in the audit trail)."""

    GRANTED = "granted"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    CREDENTIAL_INACTIVE = "credential_inactive"
    SUSPENDED = "suspended"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NO_ACCESS_LEVEL = "no_access_level"
    OUTSIDE_SCHEDULE = "outside_schedule"
    LOCKDOWN = "lockdown"
    PIN_REQUIRED = "pin_required"
    WRONG_PIN = "wrong_pin"
    PIN_NOT_SET = "pin_not_set"
    PIN_TIMEOUT = "pin_timeout"
    PIN_LOCKOUT = "pin_lockout"
    PASSBACK = "passback"
    TWO_PERSON_PENDING = "two_person_pending"
    NO_DOOR = "reader_not_assigned"


PinCheck = Literal["absent", "ok", "wrong", "not_set", "timeout"]
PassbackViolation = Literal["soft", "hard"] | None


@dataclass(frozen=True)
class LevelPolicy:
    """An access level compiled from config: doors (None = every door) and its schedule."""

    level_id: str
    doors: frozenset[str] | None
    schedule: Schedule

    def covers(self, door_id: str) -> bool:
        """Return True if the level includes `door_id`."""
        return self.doors is None or door_id in self.doors


@dataclass(frozen=True)
class DoorPolicy:
    """What the decision needs to know about a door."""

    door_id: str
    badge_schedule: Schedule
    require_pin: bool = False


@dataclass(frozen=True)
class AccessPolicy:
    """Site-wide policy: levels by id (empty = every valid credential opens every door) and override roles."""

    levels: Mapping[str, LevelPolicy]
    override_roles: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: EdgeConfig, schedules: Mapping[str, Schedule]) -> AccessPolicy:
        """Compile the access levels of `config` against compiled `schedules`."""
        levels = {
            level_id: LevelPolicy(
                level_id,
                None if "*" in level.doors else frozenset(level.doors),
                schedules[level.schedule],
            )
            for level_id, level in config.access.levels.items()
        }
        return cls(levels, frozenset(config.access.lockdown_override_roles))


def door_policy(door: DoorConfig, schedules: Mapping[str, Schedule]) -> DoorPolicy:
    """Compile what `decide` needs of a door."""
    return DoorPolicy(door.id, schedules[door.schedule], door.require_pin)


@dataclass(frozen=True)
class Decision:
    """The outcome of one badge read."""

    granted: bool
    reason: Reason
    level: str | None = None
    lockdown_override: bool = False
    passback_violation: bool = False


def decide(
    credential: CredentialRecord | None,
    door: DoorPolicy | None,
    policy: AccessPolicy,
    now: datetime,
    *,
    lockdown: bool = False,
    pin: PinCheck = "absent",
    passback: PassbackViolation = None,
    pin_locked_out: bool = False,
) -> Decision:
    """Decide whether `credential` opens `door` at the aware instant `now`."""
    if door is None:
        return Decision(False, Reason.NO_DOOR)
    if credential is None:
        return Decision(False, Reason.UNKNOWN_CREDENTIAL)
    if not credential.active:
        return Decision(False, Reason.CREDENTIAL_INACTIVE)
    if not credential.person_active:
        return Decision(False, Reason.SUSPENDED)
    for start in (credential.valid_from, credential.person_valid_from):
        if start is not None and now < start:
            return Decision(False, Reason.NOT_YET_VALID)
    for end in (credential.valid_until, credential.person_valid_until):
        if end is not None and now >= end:
            return Decision(False, Reason.EXPIRED)
    if pin_locked_out:  # too many wrong PINs: the card opens no door until the lockout ends
        return Decision(False, Reason.PIN_LOCKOUT)
    level = _open_level(credential, door.door_id, policy, now)
    if isinstance(level, Reason):
        return Decision(False, level)
    if not door.badge_schedule.is_open(now):
        return Decision(False, Reason.OUTSIDE_SCHEDULE, level)
    override = False
    if lockdown:
        if credential.role is None or credential.role not in policy.override_roles:
            return Decision(False, Reason.LOCKDOWN, level)
        override = True
    if door.require_pin:
        pin_reason = _PIN_REASONS.get(pin)
        if pin_reason is not None:
            return Decision(False, pin_reason, level, override)
    if passback == "hard":
        return Decision(False, Reason.PASSBACK, level, override, passback_violation=True)
    return Decision(True, Reason.GRANTED, level, override, passback_violation=passback == "soft")


_PIN_REASONS = {
    "absent": Reason.PIN_REQUIRED,
    "wrong": Reason.WRONG_PIN,
    "not_set": Reason.PIN_NOT_SET,
    "timeout": Reason.PIN_TIMEOUT,
}


def _open_level(credential: CredentialRecord, door_id: str, policy: AccessPolicy, now: datetime) -> str | Reason:
    """Return the id of a level that opens the door now, else why not."""
    if not policy.levels:
        return "*"  # no levels configured: every valid credential opens every door
    covering = [policy.levels[lv] for lv in sorted(credential.levels) if lv in policy.levels]
    covering = [lv for lv in covering if lv.covers(door_id)]
    if not covering:
        return Reason.NO_ACCESS_LEVEL
    for level in covering:
        if level.schedule.is_open(now):
            return level.level_id
    return Reason.OUTSIDE_SCHEDULE
