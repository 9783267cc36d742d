"""Door settings, weekly schedules and holiday calendars edited in the console, with HQ's values authoritative.

The console's edits are a `SitePolicy` (schedules, holiday calendars, door policies) stored in `local_policy`
(migration 14) and overlaid on the box's TOML config; the cloud's document is overlaid on top of that
(`edge.access.site_config.load_effective_config`). So what HQ manages for the site (a schedule or calendar id its
document lists, a door field its door policy sets) is never edited here: the console shows it as managed by HQ and
an edit of it is refused (`ManagedByHq`), the way the sync reconciliation expects HQ's policy to be in force.

An edit is validated as a whole against the effective config (a door naming an unknown schedule, a schedule naming
an unknown calendar, removing a schedule still in use: refused with the reason, nothing stored). A stored edit is
audited and applied at once through the same listener as a cloud document (access decisions, door modes, rules),
serialised with the cloud's documents by one lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from edge.access.site_config import (
    ConfigRefused,
    SitePolicy,
    effective_config,
    stored_local_policy,
    stored_policy,
)
from edge.config import EdgeConfig
from edge.storage.database import Database
from edge.storage.journal import Journal
from edge.storage.schema import local_policy
from sync.policy import DoorPolicy, HolidayCalendar, Schedule

PolicyListener = Callable[[EdgeConfig], Awaitable[None]]
DOOR_FIELDS: tuple[str, ...] = tuple(DoorPolicy.model_fields)


class PolicyEditRefused(ValueError):
    """The edit cannot be applied; the message says why (shown next to the form)."""


class ManagedByHq(PolicyEditRefused):
    """The edit touches what HQ's configuration document manages for this site."""


class UnknownObject(LookupError):
    """No such door, schedule or holiday calendar."""


@dataclass(frozen=True)
class PolicyView:
    """What the console shows: the box's config, the console's edits, HQ's policy and the effective result."""

    effective: EdgeConfig
    box: EdgeConfig  # the TOML config alone
    local: SitePolicy
    hq: SitePolicy | None
    hq_version: int
    hq_door_fields: dict[str, set[str]] = field(default_factory=dict)

    def schedule_managed(self, schedule_id: str) -> bool:
        """True if HQ's document defines this schedule."""
        return self.hq is not None and schedule_id in self.hq.schedules

    def holidays_managed(self, calendar_id: str) -> bool:
        """True if HQ's document defines this holiday calendar."""
        return self.hq is not None and calendar_id in self.hq.holidays

    def schedule_source(self, schedule_id: str) -> str:
        """'hq', 'console' or 'config': where the schedule in force comes from."""
        if self.schedule_managed(schedule_id):
            return "hq"
        return "console" if schedule_id in self.local.schedules else "config"

    def holidays_source(self, calendar_id: str) -> str:
        """'hq', 'console' or 'config': where the calendar in force comes from."""
        if self.holidays_managed(calendar_id):
            return "hq"
        return "console" if calendar_id in self.local.holidays else "config"


def _hq_door_fields(hq: SitePolicy | None) -> dict[str, set[str]]:
    if hq is None:
        return {}
    return {door_id: set(p.model_dump(exclude_none=True)) for door_id, p in hq.doors.items()}


class PolicyEditor:
    """Stores and applies the console's door, schedule and holiday edits (module docstring: the rule)."""

    def __init__(self, config: EdgeConfig, db: Database, journal: Journal, *, on_policy: PolicyListener) -> None:
        self._config = config
        self._db = db
        self._journal = journal
        self._on_policy = on_policy
        self.lock = asyncio.Lock()  # shared with the cloud's SiteConfigApplier

    async def apply_effective(self, effective: EdgeConfig) -> None:
        """Decide and operate doors by `effective` from now on (the listener of the cloud's documents too)."""
        await self._on_policy(effective)

    async def view(self) -> PolicyView:
        """The policy as it stands now."""
        local = await stored_local_policy(self._db)
        version, hq = await stored_policy(self._db)
        return PolicyView(
            effective=self._compose(local, hq),
            box=self._config,
            local=local,
            hq=hq,
            hq_version=version,
            hq_door_fields=_hq_door_fields(hq),
        )

    def _compose(self, local: SitePolicy, hq: SitePolicy | None) -> EdgeConfig:
        """The effective config for `local` under `hq`; PolicyEditRefused with the reason if it is not valid."""
        try:
            base = effective_config(self._config, local)
            return base if hq is None else effective_config(base, hq)
        except ConfigRefused as err:
            raise PolicyEditRefused(str(err)) from err

    async def set_door(self, door_id: str, policy: DoorPolicy, by: str) -> None:
        """Replace the console's settings of a door (fields HQ sets must be left out)."""
        if door_id not in {d.id for d in self._config.doors}:
            raise UnknownObject(door_id)

        def change(local: SitePolicy, hq_fields: dict[str, set[str]]) -> SitePolicy:
            taken = sorted(set(policy.model_dump(exclude_none=True)) & hq_fields.get(door_id, set()))
            if taken:
                raise ManagedByHq(f"{', '.join(taken)} of this door are managed by HQ")
            doors = {**local.doors, door_id: policy}
            return local.model_copy(update={"doors": doors})

        settings = policy.model_dump(mode="json", exclude_none=True)
        await self._commit(
            change, by, {"type": "door_settings_changed", "door_id": door_id, "settings": settings}, f"door {door_id}"
        )

    async def set_schedule(self, schedule_id: str, schedule: Schedule, by: str) -> None:
        """Add or replace a schedule."""

        def change(local: SitePolicy, _hq: dict[str, set[str]]) -> SitePolicy:
            return local.model_copy(update={"schedules": {**local.schedules, schedule_id: schedule}})

        body = schedule.model_dump(mode="json")
        await self._commit(
            change,
            by,
            {"type": "schedule_changed", "schedule_id": schedule_id, "schedule": body},
            f"schedule {schedule_id}",
            managed=("schedules", schedule_id),
        )

    async def remove_schedule(self, schedule_id: str, by: str) -> None:
        """Remove a schedule added in the console (refused while a door or level still uses it)."""

        def change(local: SitePolicy, _hq: dict[str, set[str]]) -> SitePolicy:
            if schedule_id not in local.schedules:
                raise UnknownObject(schedule_id)
            if schedule_id in self._config.schedules:
                raise PolicyEditRefused("this schedule is in the box's config file: it can be edited, not removed")
            return local.model_copy(
                update={"schedules": {k: v for k, v in local.schedules.items() if k != schedule_id}}
            )

        await self._commit(
            change,
            by,
            {"type": "schedule_removed", "schedule_id": schedule_id},
            f"schedule {schedule_id}",
            verb="removed",
            managed=("schedules", schedule_id),
        )

    async def set_holidays(self, calendar_id: str, calendar: HolidayCalendar, by: str) -> None:
        """Add or replace a holiday calendar."""

        def change(local: SitePolicy, _hq: dict[str, set[str]]) -> SitePolicy:
            return local.model_copy(update={"holidays": {**local.holidays, calendar_id: calendar}})

        body = calendar.model_dump(mode="json")
        await self._commit(
            change,
            by,
            {"type": "holidays_changed", "calendar_id": calendar_id, "calendar": body},
            f"holiday calendar {calendar_id}",
            managed=("holidays", calendar_id),
        )

    async def _commit(
        self,
        change: Callable[[SitePolicy, dict[str, set[str]]], SitePolicy],
        by: str,
        audit: dict[str, Any],
        what: str,
        *,
        verb: str = "changed",
        managed: tuple[str, str] | None = None,
    ) -> None:
        async with self.lock:
            local = await stored_local_policy(self._db)
            version, hq = await stored_policy(self._db)
            if managed is not None and hq is not None and managed[1] in getattr(hq, managed[0]):
                raise ManagedByHq(f"{what} is managed by HQ (configuration v{version}): change it there")
            updated = change(local, _hq_door_fields(hq))
            effective = self._compose(updated, hq)
            now = datetime.now(UTC)
            values = {
                "policy": updated.model_dump(mode="json", exclude_defaults=True),
                "updated_at": now,
                "updated_by": by[:64],
            }
            async with self._db.engine.begin() as conn:
                stored = await conn.execute(update(local_policy).where(local_policy.c.id == 1).values(**values))
                if stored.rowcount == 0:
                    await conn.execute(insert(local_policy).values(id=1, **values))
                entry = await self._journal.record_in(
                    conn, "audit", {**audit, "by": by}, source=f"console:{by}", summary=f"{by} {verb} {what}"
                )
            self._journal.committed(entry)
            await self._on_policy(effective)
