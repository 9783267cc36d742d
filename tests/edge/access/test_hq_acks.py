"""HQ's alarm acknowledgements in a site document: applied through the alarm book, idempotent, even when the
rest of the document is refused; an alarm id the box does not know is skipped."""

from __future__ import annotations

from edge.access.site_config import SiteConfigApplier
from tests.edge.access.harness import HarnessFactory
from tests.edge.access.site_documents import T0, document


def _ack(alarm_id: int, by: str = "ops@acme.example") -> dict[str, object]:
    return {"alarm_id": alarm_id, "by": by, "at": T0}


async def _acks(h, alarm_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    events = await h.journal.recent(200, "event")
    return [
        e.payload["by"]
        for e in events
        if e.payload.get("type") == "alarm"
        and e.payload["state"] == "acknowledged"
        and e.payload["alarm_id"] == alarm_id
    ]


async def test_acks_apply_once_even_in_a_refused_document(access_harness: HarnessFactory) -> None:
    h = await access_harness()
    alarms = h.service.supervisor.alarms
    applier = SiteConfigApplier(h.config, h.db, h.people, h.journal, alarms=alarms)
    forced = await alarms.raised("front", "forced_open", "", T0)
    held = await alarms.raised("front", "held_open", "", T0)
    await alarms.cleared("front", "held_open")
    local = await alarms.raised("front", "command_failed", "", T0)
    await alarms.acknowledge(local.id, "guard")

    outcome = await applier.apply(document(1, alarm_acks=[_ack(forced.id), _ack(local.id), _ack(9999)]))

    assert outcome.applied
    assert (await alarms.get(forced.id)).acknowledged_by == "hq:ops@acme.example"
    assert await _acks(h, local.id) == ["guard"]  # already acknowledged here: unchanged

    # A refused document (unknown schedule) still carries HQ's acknowledgements: applied, nothing else changes.
    level = {"cloud-day": {"doors": ["front"], "schedule": "nope"}}
    refused = await applier.apply(document(2, access_levels=level, alarm_acks=[_ack(held.id)]))
    assert not refused.applied and await applier.applied_version() == 1
    record = await alarms.get(held.id)
    assert (record.acknowledged_by, record.state, record.closed_at is not None) == (
        "hq:ops@acme.example",
        "cleared",
        True,
    )

    # The same acknowledgements again (the next document lists them until the box's ack synced up): no change.
    await applier.apply(document(3, alarm_acks=[_ack(forced.id), _ack(held.id)]))
    assert await _acks(h, forced.id) == ["hq:ops@acme.example"]
    assert await _acks(h, held.id) == ["hq:ops@acme.example"]
