"""Enrolling a site beyond the plan's site limit is refused naming the plan; the code stays usable."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from billing_scenarios import BASIC, change, publish, subscribe
from cloud_helpers import TenantFixture, enroll, login
from config_helpers import document, pull

from cloud.app import RunningCloud
from cloud.billing import catalogue
from cloud.enrollment import issue_code
from sync.wire import ENROLL_PATH, EnrollResponse


async def test_enrolling_past_the_site_limit_is_refused_naming_the_plan(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    (one_site,) = await publish(cloud.db, BASIC.model_copy(update={"code": "solo", "name": "Solo", "site_limit": 1}))
    await subscribe(cloud.db, tenant.tenant_id, one_site, datetime.now(UTC).date())
    async with cloud.db.begin() as session:
        issued = await issue_code(session, tenant.tenant_id, "Second site")
    refused = await http.post(ENROLL_PATH, json={"code": issued.code, "hostname": "box-2"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "site_limit"
    assert "plan Solo (v1) allows 1 site(s) and this tenant has 1" in refused.json()["detail"]
    # A larger plan: the same code now enrolls the site.
    (bigger,) = await publish(cloud.db, BASIC.model_copy(update={"code": "duo", "name": "Duo", "site_limit": 2}))
    await change(cloud.db, tenant.tenant_id, bigger, datetime.now(UTC).date())
    second = await enroll(http, issued.code, hostname="box-2")
    assert second.site_name == "Second site"


async def test_an_offline_enrollment_file_past_the_site_limit_is_refused_naming_the_plan(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    (one_site,) = await publish(cloud.db, BASIC.model_copy(update={"code": "solo", "name": "Solo", "site_limit": 1}))
    await subscribe(cloud.db, tenant.tenant_id, one_site, datetime.now(UTC).date())
    csrf = await login(http, tenant.admin_email)
    refused = await http.post("/api/v1/enrollment-files", json={"site_name": "Depot"}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "site_limit" and "plan Solo (v1)" in refused.json()["detail"]


async def test_sites_learn_their_plan_limits_in_the_configuration_document(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    first = document(site, await pull(http, site, 0))
    assert first.limits is None  # no plan yet
    csrf = await login(http, tenant.admin_email)
    async with cloud.db() as session:
        standard = await catalogue.latest(session, "standard")
    assert standard is not None
    form = {"csrf_token": csrf, "plan_id": str(standard.id), "interval": "month", "tax_rate": "20"}
    assert (await http.post("/portal/billing/subscription", data=form)).status_code == 303
    doc = document(site, await pull(http, site, first.version))
    assert doc.version > first.version
    assert doc.limits is not None
    assert (doc.limits.plan, doc.limits.cameras, doc.limits.doors, doc.limits.overage_policy) == (
        "Standard v1",
        8,
        8,
        "bill",
    )
