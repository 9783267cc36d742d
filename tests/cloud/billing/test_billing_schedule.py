"""The period close runs by itself as an APScheduler job inside the cloud process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from billing_helpers import add_site, add_tenant
from billing_scenarios import BASIC, invoices_of, publish, subscribe

from cloud.app import started_cloud
from cloud.billing.settings import BillingSettings
from cloud.config import CloudConfig
from cloud.db.models import utcnow
from tests.polling import eventually


async def test_the_scheduled_close_finalises_an_ended_period(tmp_path: Path) -> None:
    config = CloudConfig(
        data_dir=tmp_path / "cloud",
        host="127.0.0.1",
        port=0,
        billing=BillingSettings(close_interval_s=1, grace_days=0),
    )
    start = utcnow().date() - timedelta(days=40)
    async with started_cloud(config) as cloud:
        tenant = await add_tenant(cloud.db, "Acme")
        await add_site(cloud.db, tenant, "North", start)
        (basic,) = await publish(cloud.db, BASIC)
        await subscribe(cloud.db, tenant, basic, start)

        async def finalised() -> bool:
            invoices = await invoices_of(cloud.db, tenant)
            return bool(invoices) and invoices[0].status == "finalized"

        await eventually(finalised, timeout_s=30)
        (invoice,) = await invoices_of(cloud.db, tenant)
    assert (invoice.period_start, invoice.number, invoice.total) == (start, 1, invoice.subtotal)
