"""Badge read -> decision -> unlock command -> audit; and manual door commands."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from edge.access.credentials import CredentialStore
from edge.access.decision import Decision, Reason, decide
from edge.config import DoorConfig, EdgeConfig
from edge.devices.gateway import AdapterError, DeviceGateway, UnknownDevice
from edge.storage.journal import Journal
from firmware_adapters.outpost_mqtt.codec import Ack, BadgeRead, Command

log = logging.getLogger(__name__)


class UnknownDoor(LookupError):
    """No door with that id."""


class AccessService:
    """Decides locally (never waits on the network) and audits every decision."""

    def __init__(
        self, config: EdgeConfig, credentials: CredentialStore, journal: Journal, gateway: DeviceGateway
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._journal = journal
        self._gateway = gateway
        self._tz = ZoneInfo(config.site.timezone)
        self._doors = {d.id: d for d in config.doors}
        self.pending_commands: dict[str, Command] = {}
        self.acks: asyncio.Queue[Ack] = asyncio.Queue(maxsize=1000)

    async def on_badge(self, reader_id: str, badge: BadgeRead) -> Decision:
        """Decide on a badge read, audit it durably, then command the lock."""
        now = datetime.now(UTC)
        door = self._config.door_for_reader(reader_id)
        credential = await self._credentials.lookup(badge.credential)
        if door is None:
            decision = Decision(False, Reason.NO_DOOR)
        else:
            schedule = None if door.schedule == "always" else self._config.schedules[door.schedule]
            decision = decide(credential, schedule, now, self._tz)
        who = credential.person_name if credential else "unknown"
        await self._journal.record(
            "audit",
            {
                "type": "access_decision",
                "door_id": door.id if door else None,
                "reader_id": reader_id,
                "credential": badge.credential,
                "person_id": credential.person_id if credential else None,
                "person": credential.person_name if credential else None,
                "granted": decision.granted,
                "reason": decision.reason.value,
                "event_id": badge.id,
            },
            source=reader_id,
            summary=f"{'GRANTED' if decision.granted else 'DENIED'} {who} at {door.name if door else reader_id}"
            f" ({decision.reason.value})",
            occurred_at=now,
        )
        if decision.granted and door is not None:
            await self._send(door, Command(action="unlock", duration_s=door.unlock_s))
        return decision

    async def command_door(self, door_id: str, action: str, by: str) -> Command:
        """Lock or unlock a door by hand (console/API); audited."""
        door = self._doors.get(door_id)
        if door is None:
            raise UnknownDoor(door_id)
        command = Command(
            action="unlock" if action == "unlock" else "lock",
            duration_s=door.unlock_s if action == "unlock" else None,
        )
        await self._journal.record(
            "audit",
            {
                "type": "manual_command",
                "door_id": door.id,
                "action": command.action,
                "by": by,
                "command_id": command.id,
            },
            source=f"console:{by}",
            summary=f"{by} {command.action}ed {door.name}",
        )
        await self._send(door, command)
        return command

    async def on_ack(self, device_id: str, ack: Ack) -> None:
        """Resolve a pending command acknowledged by its device."""
        command = self.pending_commands.pop(ack.id, None)
        if command is None:
            return
        if not ack.ok:
            log.warning("%s refused command %s: %s", device_id, command.action, ack.detail)
        if not self.acks.full():
            self.acks.put_nowait(ack)

    async def _send(self, door: DoorConfig, command: Command) -> None:
        self.pending_commands[command.id] = command
        if len(self.pending_commands) > 1000:
            self.pending_commands.pop(next(iter(self.pending_commands)))
        try:
            await self._gateway.send(door.lock, command)
        except (AdapterError, UnknownDevice) as err:
            log.error("cannot send %s to %s: %s", command.action, door.lock, err)
