"""Alarm acknowledgements made at HQ, applied on the box through its normal acknowledgement path.

They arrive in the cloud's site document (`SiteConfigDocument.alarm_acks`, docs/SYNC.md "HQ alarm
acknowledgements"): each names the box's alarm id and the HQ user. Applying one is `AlarmBook.acknowledge` with
``by = "hq:<email>"``: journaled (and so audited and synced up) once; an alarm already acknowledged here, or
closed, changes nothing; an id the box does not know is skipped. A document keeps listing an acknowledgement until
the box's acknowledgement record has reached the cloud, so a box offline at the time applies it on reconnect.
"""

from __future__ import annotations

import logging

from edge.access.alarms import AlarmBook, UnknownAlarm
from sync.downlink import HqAlarmAck

log = logging.getLogger(__name__)

MAX_BY = 120  # the cloud's limit of an alarm record's `by` (cloud.analytics.payloads.AlarmPayload)


def hq_actor(email: str) -> str:
    """The name a box-side acknowledgement made at HQ is recorded under."""
    return f"hq:{email}"[:MAX_BY]


async def apply_hq_acks(alarms: AlarmBook, acks: list[HqAlarmAck]) -> int:
    """Acknowledge each alarm HQ acknowledged (idempotent); return how many were newly acknowledged here."""
    applied = 0
    for ack in acks:
        try:
            before = await alarms.get(ack.alarm_id)
        except UnknownAlarm:
            log.warning("HQ acknowledged alarm %d, which this box does not know: skipped", ack.alarm_id)
            continue
        if before.acknowledged:
            continue
        await alarms.acknowledge(ack.alarm_id, hq_actor(ack.by), f"acknowledged at HQ {ack.at.isoformat()}")
        applied += 1
    return applied
