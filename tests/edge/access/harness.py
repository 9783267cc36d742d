"""The access harness: access service and people administration on real SQLite, fake locks, a hand-moved clock.

It runs without a broker: lock commands go to `FakeLocks`, which records them and acks (or not) like a lock
would. Time is a `MutableClock` the test sets to explicit aware datetimes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.access.commands import LockCommander
from edge.access.credentials import CredentialStore
from edge.access.people import PeopleAdmin
from edge.access.pins import PinHasher
from edge.access.service import AccessService
from edge.config import EdgeConfig
from edge.devices.state import SiteState
from edge.storage.database import Database
from edge.storage.journal import Journal
from firmware_adapters.messages import Ack, Command, ContactChange, Status, Telemetry
from tests.edge.site import site_config_dict

BERLIN = ZoneInfo("Europe/Berlin")  # the test site's timezone
PIN_KEY = bytes(range(32))


def commands_in_flight(commander: LockCommander) -> int:
    """Return how many lock commands await an ack (only tests ask, so the commander has no public count)."""
    return len(commander._pending)


def access_site_dict(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The test site plus: an exit reader and anti-passback on the lobby, a vault with card+PIN and the
    two-person rule, a side door unlocked in office hours (first person in), levels and an override role."""
    config = site_config_dict(data_dir)
    config["zones"] = [
        {"id": "lobby", "name": "Lobby", "passback": "hard"},
        {"id": "vault", "name": "Vault"},
        {"id": "yard", "name": "Yard", "passback": "soft"},
    ]
    config["devices"] += [
        {"id": "reader-front-out", "kind": "reader", "zone": "lobby"},
        {"id": "reader-vault", "kind": "reader", "zone": "vault"},
        {"id": "lock-vault", "kind": "lock", "zone": "vault"},
        {"id": "contact-vault", "kind": "contact", "zone": "vault"},
        {"id": "reader-side", "kind": "reader", "zone": "lobby"},
        {"id": "lock-side", "kind": "lock", "zone": "lobby"},
        {"id": "reader-yard-in", "kind": "reader", "zone": "yard"},
        {"id": "reader-yard-out", "kind": "reader", "zone": "yard"},
        {"id": "lock-yard", "kind": "lock", "zone": "yard"},
        {"id": "rex-front", "kind": "contact", "zone": "lobby"},
    ]
    config["doors"] = [
        {
            "id": "front",
            "name": "Front door",
            "zone": "lobby",
            "lock": "lock-front",
            "readers": ["reader-front", {"device": "reader-front-out", "direction": "out"}],
            "contact": "contact-front",
            "rex": "rex-front",
            "unlock_s": 2,
            "held_open_s": 0.5,
        },
        {
            "id": "vault",
            "name": "Vault",
            "zone": "vault",
            "lock": "lock-vault",
            "readers": ["reader-vault"],
            "contact": "contact-vault",
            "require_pin": True,
            "pin_timeout_s": 10,
            "two_person": True,
            "two_person_window_s": 10,
        },
        {
            "id": "side",
            "name": "Side door",
            "zone": "lobby",
            "lock": "lock-side",
            "readers": ["reader-side"],
            "unlock_schedule": "office-hours",
            "first_person_in": True,
        },
        {
            "id": "yard",
            "name": "Yard gate",
            "zone": "yard",
            "lock": "lock-yard",
            "readers": [
                {"device": "reader-yard-in", "direction": "in"},
                {"device": "reader-yard-out", "direction": "out"},
            ],
            "fail_mode": "safe",
        },
    ]
    config["schedules"] = {
        "office-hours": {
            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}],
            "holidays": ["de-by"],
        },
        "night-shift": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "06:00"}]},
    }
    config["holidays"] = {"de-by": {"name": "Bavaria", "dates": ["2026-12-24"], "annual": ["12-25", "01-01"]}}
    config["access"] = {
        "levels": {
            "staff": {"name": "Staff", "doors": ["front", "side", "yard"], "schedule": "office-hours"},
            "nights": {"name": "Night shift", "doors": ["front"], "schedule": "night-shift"},
            "vault": {"name": "Vault", "doors": ["vault"]},
            "all": {"name": "All doors", "doors": ["*"]},
        },
        "lockdown_override_roles": ["security"],
        "command_ack_timeout_s": 0.05,
        "command_retries": 2,
    }
    config.update(overrides)
    return config


class MutableClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeLocks:
    """Records commands; acks them like a lock unless the lock is in `silent`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Command]] = []
        self.sent_at: list[float] = []
        self.silent: set[str] = set()
        self.service: AccessService | None = None

    async def send(self, device_id: str, message: Command) -> None:
        self.sent.append((device_id, message))
        self.sent_at.append(asyncio.get_running_loop().time())
        if device_id not in self.silent and self.service is not None:
            service = self.service
            asyncio.get_running_loop().call_soon(service.commander.on_ack, device_id, Ack(id=message.id))

    def command_ack_timeout_s(self, device_id: str) -> float | None:
        """Native locks: the site's own ack timeout applies."""
        return None

    def actions(self, lock_id: str) -> list[tuple[str, float | None]]:
        """(action, duration) of every command sent to `lock_id`, in order."""
        return [(c.action, c.duration_s) for dev, c in self.sent if dev == lock_id]


@dataclass
class AccessHarness:
    """An access service on a real database, with fake locks and a hand-moved clock."""

    config: EdgeConfig
    db: Database
    journal: Journal
    store: CredentialStore
    state: SiteState
    service: AccessService
    locks: FakeLocks
    clock: MutableClock
    pins: PinHasher
    people: PeopleAdmin

    async def audits(self, limit: int = 20) -> list[dict[str, Any]]:
        """Access decisions, newest first."""
        return [
            e.payload for e in await self.journal.recent(limit, "audit") if e.payload.get("type") == "access_decision"
        ]

    async def alarms(self, limit: int = 50) -> list[tuple[str, str, str]]:
        """(door, alarm, raised/cleared), oldest first."""
        entries = await self.journal.recent(limit, "event")
        return [
            (e.payload["door_id"], e.payload["alarm"], e.payload["state"])
            for e in reversed(entries)
            if e.payload.get("type") == "alarm"
        ]

    async def lock_online(self, lock_id: str, locked: bool = True) -> None:
        """A lock connects and reports its state, as over MQTT."""
        await self.state.on_status(lock_id, Status(state="online"))
        await self.service.on_device_status(lock_id, True)
        await self.state.on_telemetry(lock_id, Telemetry(values={"locked": 1.0 if locked else 0.0}))

    async def lock_offline(self, lock_id: str) -> None:
        """A lock's Last Will arrives."""
        await self.state.on_status(lock_id, Status(state="offline"))
        await self.service.on_device_status(lock_id, False)

    async def contact(self, device_id: str, is_open: bool) -> None:
        """A door contact (or REX input) reports, as routed from MQTT."""
        change = ContactChange(open=is_open)
        await self.state.on_contact(device_id, change)
        await self.service.on_contact(device_id, change)


HarnessFactory = Callable[..., Awaitable[AccessHarness]]
BERLIN_WEDNESDAY_10H = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # 10:00 local, office hours
