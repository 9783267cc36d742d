"""Access control service: badge -> decision -> lock command + audit; door modes, alarms, operator commands.

Decisions are local and in memory: the credential index (`edge.access.credential_index`), compiled policy, no
database read and no network. Every decision is audited (journal kind "audit", ``type: "access_decision"``)
with its reason. The lock is commanded while the audit record is being committed, not after it: actuation is
not acknowledgement. The reader's receipt, the site's acknowledgement of the event, is sent only once
`on_badge` returns, which is after the audit record is on disk (FULL sync).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.access.commands import LockCommander
from edge.access.credential_index import CredentialIndex
from edge.access.credentials import CredentialRecord, normalise_credential
from edge.access.decision import AccessPolicy, Decision, PinCheck, Reason, decide, door_policy
from edge.access.enrolment import Enrolment, EnrolmentDesk
from edge.access.lockdown import LockdownState
from edge.access.modes import DoorModeRunner
from edge.access.passback import PassbackTracker
from edge.access.pin_lockout import PinLockout, PinLockouts
from edge.access.pins import PinHasher
from edge.access.schedule import Schedule, compile_schedules
from edge.access.supervision import DoorSupervisor
from edge.access.two_person import TwoPersonRule
from edge.config import DoorConfig, EdgeConfig
from edge.devices.state import SiteState
from edge.storage.journal import Journal, JournalEntry
from firmware_adapters.messages import Ack, BadgeRead, Command, ContactChange, Telemetry

log = logging.getLogger(__name__)
_WAITING = (Reason.PIN_REQUIRED, Reason.TWO_PERSON_PENDING)
_PIN_PASSED = (Reason.GRANTED, Reason.PASSBACK, Reason.TWO_PERSON_PENDING)  # the PIN check ran and passed


class UnknownDoor(LookupError):
    """No door with that id."""


class DoorOffline(Exception):
    """The door's lock is unreachable: a command to it cannot be carried out now."""


class UnknownZone(LookupError):
    """No zone with that id."""


class AccessService:
    """Decides locally (never waits on the network), audits every decision and operates the doors."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        schedules: Mapping[str, Schedule],
        journal: Journal,
        state: SiteState,
        pins: PinHasher,
        credential_index: CredentialIndex,
        lockdowns: LockdownState,
        passback: PassbackTracker,
        two_person: TwoPersonRule,
        pin_lockouts: PinLockouts,
        supervisor: DoorSupervisor,
        commander: LockCommander,
        modes: DoorModeRunner,
        enrolments: EnrolmentDesk,
        clock: Callable[[], datetime],
    ) -> None:
        """Take the collaborators `edge.access.assembly.build_access` builds."""
        self._journal = journal
        self._state = state
        self._pins = pins
        self._clock = clock
        self.credential_index = credential_index
        self.lockdowns = lockdowns
        self.passback = passback
        self.two_person = two_person
        self.pin_lockouts = pin_lockouts
        self.supervisor = supervisor
        self.commander = commander
        self.modes = modes
        self.enrolments = enrolments
        self._compile(config, schedules)
        self._zones = {z.id for z in config.zones}
        self._pin_waits: dict[str, tuple[str, datetime]] = {}

    def _compile(self, config: EdgeConfig, schedules: Mapping[str, Schedule]) -> None:
        """Compile what badge decisions read; each attribute is replaced whole (no await in between)."""
        self.policy = AccessPolicy.from_config(config, schedules)
        self._doors = {d.id: d for d in config.doors}
        # Reader -> (door, direction), compiled once: scanning every door per badge would cost.
        readers: dict[str, tuple[DoorConfig, str]] = {}
        for door in config.doors:
            for reader in door.readers:
                readers.setdefault(reader.device, (door, reader.direction))  # first wins, as there
        self._readers = readers
        self._door_policies = {d.id: door_policy(d, schedules) for d in config.doors}
        self._vehicles = {v.plate: v for v in config.access.vehicles}
        hours = config.access.plate_gate.unknown_plate_hours
        self._plate_hours = None if hours is None else schedules[hours]

    async def use_config(self, config: EdgeConfig) -> None:
        """Decide and operate doors from now on by `config` (the box's config with a cloud document's policy
        overlaid): access levels, schedules, holidays, door fields (schedule, require_pin, two_person, unlock_s,
        held_open_s, unlock_schedule, first_person_in). Decisions switch at once, without an await in between.
        """
        schedules = compile_schedules(config.schedules, ZoneInfo(config.site.timezone), config.holidays)
        self._compile(config, schedules)
        self.supervisor.use_doors(config.doors)
        await self.modes.use_doors(config.doors, schedules)

    async def load(self) -> None:
        """Read credentials, persisted lockdowns and anti-passback presence (before device intake starts)."""
        await self.credential_index.refresh()
        await self.lockdowns.load()
        await self.passback.load()
        await self.pin_lockouts.load()
        await self.supervisor.load()  # alarms still listed as active at the last stop

    async def start(self) -> None:
        """Apply door modes now and follow their schedules (after device intake started); watch credentials."""
        await self.credential_index.start()
        await self.pin_lockouts.start()
        await self.modes.start()

    async def stop(self) -> None:
        """Stop schedules, command deliveries, alarm timers and the credential watch."""
        await self.modes.stop()
        await self.commander.stop()
        await self.supervisor.stop()
        await self.credential_index.stop()
        await self.pin_lockouts.stop()

    # --- badge reads -------------------------------------------------------------------------------------

    async def on_badge(self, reader_id: str, badge: BadgeRead) -> Decision:
        """Decide on a badge read and command the lock; return once the decision's audit record is on disk.

        Badges from different readers are handled concurrently (per-device dispatch): the decision and the
        in-memory state it changes (PIN waits, two-person offers, anti-passback presence, wrong-PIN counts) is
        updated without yielding to the event loop, so concurrent reads still see each other's effects in order.
        """
        now = self._clock()
        door: DoorConfig | None
        door, direction = self._readers.get(reader_id, (None, "in"))
        credential = self.credential_index.get(badge.credential)
        # An unknown card at a reader armed for enrolment by tap: decided (denied) as usual, then bound below.
        enrolment: Enrolment | None = None if credential is not None else self.enrolments.claim(reader_id, now)
        companion: int | None = None
        duress = False
        lockout: PinLockout | None = None
        alarms: list[asyncio.Future[Any]] = []
        if door is None:
            decision = decide(credential, None, self.policy, now)
        else:
            pin, duress = self._pin_check(door, reader_id, badge, credential, now)
            decision = decide(
                credential,
                self._door_policies[door.id],
                self.policy,
                now,
                lockdown=self.lockdowns.applies(door.zone),
                pin=pin,
                passback=self.passback.check(credential.person_id, door.zone, direction) if credential else None,
                pin_locked_out=credential is not None and self.pin_lockouts.locked(credential.number, now) is not None,
            )
            if decision.reason == Reason.PIN_REQUIRED and credential is not None:
                self._pin_waits[reader_id] = (credential.number, now + timedelta(seconds=door.pin_timeout_s))
            else:
                self._pin_waits.pop(reader_id, None)
            if decision.granted and door.two_person and credential is not None:
                offer = self.two_person.offer(
                    door.id, credential.person_id, now, timedelta(seconds=door.two_person_window_s)
                )
                if offer.complete:
                    companion = offer.companion
                else:
                    decision = replace(decision, granted=False, reason=Reason.TWO_PERSON_PENDING)
            if credential is not None and decision.reason == Reason.WRONG_PIN:
                lockout = self.pin_lockouts.wrong_pin(credential, door.id, now)  # row queued before the audit
            elif credential is not None and pin == "ok" and decision.reason in _PIN_PASSED:
                self.pin_lockouts.correct_pin(credential.number)
        # Queued now, committed by the writer thread (~0.3-3 ms with FULL sync) while the unlock below goes out.
        audit = self._audit_decision(
            reader_id, door, direction, badge, credential, decision, companion, now, duress, enrolment
        )
        if door is not None and credential is not None:
            if duress:
                alarms.append(self._duress_alarm(reader_id, door, credential, decision, now))
            if lockout is not None:
                alarms.append(self.pin_lockouts.raised(lockout))
        try:
            if decision.granted and door is not None and credential is not None:
                await self._grant(door, direction, [credential.person_id, *([companion] if companion else [])], now)
        finally:
            # Also when the grant failed: the caller's receipt (and its errors) come after the audit is on disk.
            # If this commit fails the door may have opened; the error propagates, no receipt is sent, and the
            # reader keeps the event to send again.
            await asyncio.gather(audit, *alarms)
        if enrolment is not None:
            await self.enrolments.bind(enrolment, badge.credential)  # before the receipt, like the audit
        return decision

    # --- plate reads at vehicle gates --------------------------------------------------------------------

    async def on_plate(self, door_id: str, plate: str, confidence: float, reads: int, at: datetime) -> Decision:
        """Decide on a plate confirmed by `reads` frames at a vehicle gate (`edge.access.vehicle_gate`).

        An allowed vehicle (`access.vehicles`) goes through the badge decision with its levels: validity, level
        schedules, the door's schedule and lockdown apply (PIN, anti-passback and the two-person rule do not).
        Audited as ``plate_decision`` at `at`, the moment of the confirming read (its frame becomes the door
        snapshot). An unknown plate is audited too and, outside `access.plate_gate.unknown_plate_hours`, raises
        the momentary ``unknown_plate`` alarm.
        """
        door = self._doors[door_id]
        vehicle = self._vehicles.get(plate)
        credential: CredentialRecord | None = None
        if vehicle is None:
            decision = Decision(False, Reason.UNKNOWN_VEHICLE)
        else:
            credential = CredentialRecord(
                number=f"plate:{plate}",
                active=True,
                valid_from=None,
                valid_until=vehicle.valid_until,
                person_id=0,
                person_name=vehicle.name or plate,
                person_active=True,
                levels=frozenset(vehicle.levels),
            )
            decision = decide(
                credential,
                replace(self._door_policies[door.id], require_pin=False),
                self.policy,
                at,
                lockdown=self.lockdowns.applies(door.zone),
            )
        who = vehicle.name if vehicle is not None and vehicle.name else plate
        verdict = "GRANTED" if decision.granted else "DENIED"
        audit = self._journal.submit(
            "audit",
            {
                "type": "plate_decision",
                "door_id": door.id,
                "camera_id": door.camera,
                "plate": plate,
                "confidence": round(confidence, 3),
                "reads": reads,
                "vehicle": vehicle.name if vehicle is not None else None,
                "granted": decision.granted,
                "reason": decision.reason.value,
                "level": decision.level,
                "lockdown_override": decision.lockdown_override,
                "lock_online": self._state.doors[door.id].lock_online,
            },
            source=door.camera or door.id,
            summary=f"{verdict} vehicle {who} at {door.name} ({decision.reason.value})",
            occurred_at=at,
        )
        try:
            if decision.granted:
                await self._grant(door, "in", [], at)
        finally:
            await audit
        if vehicle is None:
            log.info("unknown plate %s at %s", plate, door.name)
            if self._plate_hours is not None and not self._plate_hours.is_open(at):
                alarms = self.supervisor.alarms
                await alarms.raised(
                    door.id, "unknown_plate", f"plate {plate} out of hours", at, plate=plate, camera_id=door.camera
                )
                await alarms.cleared(door.id, "unknown_plate", at + timedelta(microseconds=1))
        return decision

    def _pin_check(
        self, door: DoorConfig, reader_id: str, badge: BadgeRead, credential: CredentialRecord | None, now: datetime
    ) -> tuple[PinCheck, bool]:
        """Return the PIN check and whether the PIN was the duress PIN (which then checks as a correct PIN)."""
        if not door.require_pin or credential is None or badge.pin is None:
            return "absent", False
        duress = self._pins.verify(badge.pin, credential.duress_pin_hash)
        wait = self._pin_waits.get(reader_id)
        if wait is not None and wait[0] == credential.number and now > wait[1]:
            return "timeout", duress
        if not credential.pin_hash:
            return "not_set", duress
        if duress:
            return "ok", True
        return ("ok" if self._pins.verify(badge.pin, credential.pin_hash) else "wrong"), False

    def _duress_alarm(
        self, reader_id: str, door: DoorConfig, credential: CredentialRecord, decision: Decision, now: datetime
    ) -> asyncio.Future[object]:
        """Raise the duress alarm (journaled and synced like every alarm); log it at WARNING.

        It is a momentary event: listed as cleared at once, it stays on the console's alarm list, latched, until
        an operator acknowledges it. Runs beside the unlock; the reader's receipt waits for it like the audit.
        """
        log.warning(
            "DURESS PIN entered by %s (person %s, credential %s) at %s",
            credential.person_name,
            credential.person_id,
            credential.number,
            door.name,
        )

        async def latch() -> object:
            alarms = self.supervisor.alarms
            await alarms.raised(
                door.id,
                "duress",
                f"{credential.person_name} at {reader_id}",
                now,
                reader_id=reader_id,
                credential=credential.number,
                person_id=credential.person_id,
                person=credential.person_name,
                granted=decision.granted,
            )
            return await alarms.cleared(door.id, "duress", now)

        return asyncio.ensure_future(latch())

    async def _grant(self, door: DoorConfig, direction: str, person_ids: list[int], now: datetime) -> None:
        # Presence changes in memory before the first await (the next decision sees it); its row is written
        # after the lock is commanded, still before the reader's receipt.
        moved = [person_id for person_id in person_ids if self.passback.note(person_id, door.zone, direction)]
        await self.modes.on_grant(door.id)
        self.supervisor.note_release(door.id)
        if not self.modes.held_unlocked(door.id):
            await self.commander.send(door.lock, Command(action="unlock", duration_s=door.unlock_s))
        for person_id in moved:
            await self.passback.persist(person_id, door.zone, now)

    def _audit_decision(
        self,
        reader_id: str,
        door: DoorConfig | None,
        direction: str,
        badge: BadgeRead,
        credential: CredentialRecord | None,
        decision: Decision,
        companion: int | None,
        now: datetime,
        duress: bool = False,
        enrolment: Enrolment | None = None,
    ) -> asyncio.Future[JournalEntry]:
        """Queue the decision's audit record; the future resolves once it is on disk."""
        who = credential.person_name if credential else "unknown"
        verdict = "GRANTED" if decision.granted else "WAITING" if decision.reason in _WAITING else "DENIED"
        flags = " [passback]" if decision.passback_violation and decision.granted else ""
        flags += " [lockdown override]" if decision.lockdown_override and decision.granted else ""
        flags += " [duress]" if duress else ""
        flags += f" [enrolment for person {enrolment.person_id}]" if enrolment is not None else ""
        return self._journal.submit(
            "audit",
            {
                "type": "access_decision",
                "door_id": door.id if door else None,
                "reader_id": reader_id,
                "direction": direction,
                "credential": badge.credential,
                "pin_presented": badge.pin is not None,
                "duress": duress,
                "person_id": credential.person_id if credential else None,
                "person": credential.person_name if credential else None,
                "granted": decision.granted,
                "reason": decision.reason.value,
                "level": decision.level,
                "lockdown_override": decision.lockdown_override,
                "passback_violation": decision.passback_violation,
                "companion_id": companion,
                "lock_online": self._state.doors[door.id].lock_online if door else None,
                "event_id": badge.id,
                "enrolment_for": enrolment.person_id if enrolment is not None else None,
            },
            source=reader_id,
            summary=f"{verdict} {who} at {door.name if door else reader_id} ({decision.reason.value}){flags}",
            occurred_at=now,
        )

    # --- operators -----------------------------------------------------------------------------------------

    async def command_door(self, door_id: str, action: str, by: str) -> Command:
        """Lock, unlock or hold unlocked a door by hand (console/API) or by a rule; audited.

        Raises DoorOffline (nothing sent, nothing audited) while the door's lock is unreachable: the operator must
        not be told a command went out that no lock can receive.
        """
        door = self._doors.get(door_id)
        if door is None:
            raise UnknownDoor(door_id)
        if not self._state.doors[door_id].lock_online:
            raise DoorOffline(f"{door.name}: lock {door.lock} is offline; the {action} command cannot reach it")
        # "hold": unlocked until a lock command (a rule's or an operator's), like a scheduled unlock.
        command = Command(
            action="unlock" if action in ("unlock", "hold") else "lock",
            duration_s=door.unlock_s if action == "unlock" else None,
        )
        await self._journal.record(
            "audit",
            {
                "type": "manual_command",
                "door_id": door.id,
                "action": command.action,
                "hold": action == "hold",
                "by": by,
                "command_id": command.id,
                "during_lockdown": self.lockdowns.applies(door.zone),
            },
            source=f"console:{by}",
            summary=f"{by} {command.action}ed {door.name}",
        )
        if command.action == "unlock":
            self.supervisor.note_release(door.id)
        await self.commander.send(door.lock, command)
        return command

    async def set_lockdown(self, zone: str | None, active: bool, by: str, reason: str = "") -> bool:
        """Start or lift a lockdown of the site (zone None) or one zone; audited; return True if it changed."""
        if zone is not None and zone not in self._zones:
            raise UnknownZone(zone)
        changed = await self.lockdowns.set(zone, active, by, reason)
        if changed:
            where = f"zone {zone}" if zone else "the site"
            await self._journal.record(
                "audit",
                {"type": "lockdown", "zone": zone, "active": active, "by": by, "reason": reason},
                source=f"console:{by}",
                summary=f"{by} {'locked down' if active else 'lifted the lockdown of'} {where}"
                + (f": {reason}" if reason else ""),
            )
            await self.modes.reevaluate()
        return changed

    # --- device reports --------------------------------------------------------------------------------------

    async def on_ack(self, device_id: str, ack: Ack) -> None:
        """Resolve a command acknowledged by its device."""
        if not self.commander.on_ack(device_id, ack):
            log.debug("ack %s from %s matches no command in flight", ack.id, device_id)

    async def on_device_status(self, device_id: str, online: bool) -> None:
        """A device went online or offline: supervise locks and contacts, re-send held modes to a returning lock."""
        contact_door = self._state.door_for_contact(device_id)
        if contact_door is not None:
            await self.supervisor.on_contact_online(contact_door.door_id, online)
        door = self._state.door_for_lock(device_id)
        if door is None:
            return
        await self.supervisor.on_lock_online(door.door_id, online)
        if online:
            await self.modes.reassert(door.door_id)

    async def on_telemetry(self, device_id: str, telemetry: Telemetry) -> None:
        """A device reported readings: supervise a lock's jam report."""
        door = self._state.door_for_lock(device_id)
        if door is not None:
            await self.supervisor.on_lock_telemetry(door.door_id, telemetry.values)

    async def on_contact(self, device_id: str, change: ContactChange) -> None:
        """A door contact or request-to-exit input changed."""
        await self.supervisor.on_contact(device_id, change)

    async def clear_pin_lockout(self, credential: str, by: str, reason: str = "") -> PinLockout | None:
        """End a credential's PIN lockout (operator); audited with who cleared it. None: it was not locked out."""
        number = normalise_credential(credential)
        lockout = await self.pin_lockouts.clear(number, by)
        if lockout is not None:
            await self._journal.record(
                "audit",
                {
                    "type": "pin_lockout_cleared",
                    "credential": number,
                    "person_id": lockout.person_id,
                    "person": lockout.person,
                    "by": by,
                    "reason": reason,
                },
                source=f"console:{by}",
                summary=f"{by} cleared the PIN lockout of {lockout.person or number} ({number})"
                + (f": {reason}" if reason else ""),
            )
        return lockout
