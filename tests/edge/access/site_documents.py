"""HQ's site configuration documents for the access harness: a sample document, an applier, a badge read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edge import keys
from edge.access.decision import Reason
from edge.access.site_config import SiteConfigApplier
from edge.app import EdgeRunner
from firmware_adapters.messages import BadgeRead
from sync.downlink import SiteConfigDocument
from tests.edge.access.harness import AccessHarness
from tests.polling import eventually

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def document(version: int, **changes: Any) -> SiteConfigDocument:
    """A document: Ada (badge 77:1) on a cloud level 'cloud-day' through the front door in cloud hours."""
    body: dict[str, Any] = {
        "site_id": "test-site",
        "version": version,
        "issued_at": T0 + timedelta(minutes=version),
        "people": [
            {
                "id": "hq-ada",
                "name": "Ada",
                "levels": ["cloud-day"],
                "credentials": [{"number": "77:1"}],
                "updated_at": T0,
            }
        ],
        "access_levels": {"cloud-day": {"name": "Day", "doors": ["front"], "schedule": "cloud-hours"}},
        "schedules": {
            "cloud-hours": {
                "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}]
            }
        },
        "doors": {"front": {"unlock_s": 7}},
    }
    body.update(changes)
    return SiteConfigDocument.model_validate(body)


def applier(h: AccessHarness) -> SiteConfigApplier:
    """A SiteConfigApplier on the harness that hands a new policy to its access service."""

    async def use(config: Any) -> None:
        await h.service.use_config(config)

    return SiteConfigApplier(h.config, h.db, h.people, h.journal, on_policy=use)


async def badge(h: AccessHarness, number: str, reader: str = "reader-front") -> Reason:
    """Present `number` at `reader`; return the decision's reason."""
    return (await h.service.on_badge(reader, BadgeRead(credential=number))).reason


async def decision_for(edge_app: EdgeRunner, event_id: str) -> str:
    """The reason of the audited access decision for the badge read `event_id` (waits until it is journaled)."""

    async def find() -> str | None:
        for entry in await edge_app.app[keys.JOURNAL].recent(50, "audit"):
            if entry.payload.get("type") == "access_decision" and entry.payload.get("event_id") == event_id:
                return str(entry.payload["reason"])
        return None

    return await eventually(find)
