"""HQ's alarm acknowledgement on its way to the box: acknowledge in the cloud, then send it down.

An acknowledgement at HQ (portal form or JSON API) sets `alarm_state.hq_acknowledged_*` and bumps the site's
configuration version in the same transaction; the site's document lists the alarm in `alarm_acks`
(`cloud.siteconfig.pending_alarm_acks`) until the box's own acknowledgement record syncs up. The box applies it
through its normal acknowledgement path (by ``hq:<email>``), so HQ's acknowledgement is "pending" until then and
"applied" after (docs/SYNC.md "HQ alarm acknowledgements"). No connection is ever opened to the box.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.analytics import queries
from cloud.analytics.api_models import AlarmOut
from cloud.siteconfig import bump_versions
from cloud.tenancy import Principal


async def acknowledge_at_hq(session: AsyncSession, who: Principal, site_id: str, alarm_id: int) -> AlarmOut | None:
    """Acknowledge at HQ and, while the box has not acknowledged it, publish it to the site (idempotent).

    Call `ConfigNotifier.notify([site_id])` after the transaction commits so a waiting pull answers at once.
    None: the tenant has no such alarm.
    """
    out = await queries.acknowledge(session, who, site_id, alarm_id, who.email)
    if out is not None and out.acknowledged_at is None:
        await bump_versions(session, who.tenant_id, [site_id])
    return out
