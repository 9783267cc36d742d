"""The billing pages over HTTP and in Chromium: plan with prorated preview, usage chart and forecast, invoices
(printable page, PDF, CSV, drill-down to usage rows and batches), credit notes; viewers see no money."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from billing_helpers import at
from billing_scenarios import BASIC, PRO, publish, subscribe, sync_usage
from cloud_helpers import PASSWORD, TenantFixture, login, portal_csrf, portal_login
from playwright.async_api import Browser, expect
from sqlalchemy import update

from cloud.admin import create_user
from cloud.app import RunningCloud
from cloud.billing.close import close_due
from cloud.db.models import Site, utcnow
from sync.wire import EnrollResponse
from tests.browser import PHONE
from tests.screenshots import save_screenshots


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only here: the billing rules run on both backends in the other billing tests."""
    return f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"


async def billed_tenant(cloud: RunningCloud, tenant: TenantFixture, site: EnrollResponse) -> None:
    """A subscription that started 70 days ago with usage, closed: two finalised invoices and a current period."""
    today = utcnow().date()
    start = today - timedelta(days=70)
    async with cloud.db.begin() as session:  # the box was enrolled when the subscription started
        await session.execute(update(Site).where(Site.id == site.site_id).values(enrolled_at=at(start, 8)))
    basic, _ = await publish(cloud.db, BASIC, PRO)
    await subscribe(cloud.db, tenant.tenant_id, basic, start, tax=2000)
    for n, back in enumerate((65, 40, 3, 1)):
        await sync_usage(cloud.db, site.site_id, today - timedelta(days=back), 5 + n, 1 + 100 * n, inventory=(3, 1, 4))
    await close_due(cloud.db, today, grace_days=0)


async def test_viewers_get_403_and_admins_get_pdf_csv_and_json(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    await billed_tenant(cloud, tenant, site)
    await create_user(cloud.db, tenant.tenant_id, "viewer@acme.example", PASSWORD, role="viewer")
    await login(http, "viewer@acme.example")
    for path in ("/portal/billing", "/portal/billing/invoices", "/api/v1/billing/invoices"):
        assert (await http.get(path)).status_code == 403, path
    http.cookies.clear()
    await login(http, tenant.admin_email)
    invoices = (await http.get("/api/v1/billing/invoices")).json()
    assert [i["number"] for i in invoices] == [2, 1]
    newest = invoices[0]["id"]
    detail = (await http.get(f"/api/v1/billing/invoices/{newest}")).json()
    assert detail["total"] == sum(line["amount"] for line in detail["lines"]) + detail["tax"]
    subscription = (await http.get("/api/v1/billing/subscription")).json()
    assert subscription["subscription"]["plan"]["code"] == "basic" and subscription["tax_rate_bp"] == 2000
    usage = (await http.get("/api/v1/billing/usage")).json()
    assert usage["events"] == 15 and usage["sites"][0]["over"] == ["cameras 3/2"]
    assert usage["forecast_events"] == 15 * usage["period_days"] // usage["elapsed_days"]
    pdf = await http.get(f"/portal/billing/invoices/{newest}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 1000
    rows = list(csv.DictReader(io.StringIO((await http.get(f"/portal/billing/invoices/{newest}/csv")).text)))
    assert [r["kind"] for r in rows][-3:] == ["subtotal", "tax", "total"]
    assert int(rows[-1]["amount_minor"]) == detail["total"]
    assert sum(int(r["amount_minor"]) for r in rows[:-3]) == detail["subtotal"]
    assert (await http.get("/portal/billing/invoices/999999")).status_code == 404
    # Bad form input is a clear 400, never a 500.
    page = await http.get("/portal/billing")
    bad = await http.post("/portal/billing/preview", data={"csrf_token": portal_csrf(page.text), "plan_id": "x"})
    assert bad.status_code == 400 and "plan_id" in bad.text
    taxed = await http.post("/portal/billing/tax", data={"csrf_token": portal_csrf(page.text), "tax_rate": "7.5"})
    assert taxed.status_code == 303
    assert (await http.get("/api/v1/billing/subscription")).json()["tax_rate_bp"] == 750
    refused = await http.post("/portal/billing/tax", data={"csrf_token": portal_csrf(page.text), "tax_rate": "150"})
    assert refused.status_code == 400 and "between 0 and 100" in refused.text


@pytest.mark.browser
async def test_billing_pages_in_chromium(
    cloud: RunningCloud,
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    site: EnrollResponse,
    browser: Browser,
) -> None:
    await billed_tenant(cloud, tenant, site)
    assert (await portal_login(http, tenant.admin_email, tenant.admin_password)).status_code == 303
    context = await browser.new_context(viewport=PHONE, base_url=cloud.url)
    page = await context.new_page()
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(cloud.url) else external.append(req.url))
    await page.goto("/login")
    await page.get_by_label("E-mail").fill(tenant.admin_email)
    await page.get_by_label("Password").fill(tenant.admin_password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/portal$"))

    await page.get_by_role("link", name="Billing").click()
    await expect(page.get_by_role("heading", name="Plan and subscription")).to_be_visible()
    await expect(page.get_by_test_id("status")).to_have_text("active")
    await page.get_by_label("New plan").select_option(label="Pro v1")
    await page.get_by_role("button", name="Preview change").click()
    await expect(page.get_by_test_id("preview-amount")).to_contain_text(re.compile(r"Adds EUR [\d,.]+"))
    await save_screenshots(page, "billing-plan-preview")
    await page.get_by_role("button", name="Confirm change to Pro").click()
    await expect(page.get_by_role("heading", name="Pro")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.get_by_role("link", name="Usage").click()
    await expect(page.get_by_test_id("events")).to_have_text("15")  # 7 + 8 events in this period
    await expect(page.locator("svg rect")).not_to_have_count(0)
    await expect(page.get_by_test_id("forecast")).to_contain_text("events")
    await expect(page.locator(f'tr[data-site-id="{site.site_id}"] .badge')).to_contain_text("cameras 3/2")
    await save_screenshots(page, "billing-usage")

    await page.get_by_role("link", name="Invoices").click()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await save_screenshots(page, "billing-invoices")
    await page.get_by_role("link", name="Invoice 1").click()
    await expect(page.get_by_role("heading", name="Invoice 1")).to_be_visible()
    await expect(page.locator('tr[data-item="cameras"]')).to_have_count(1)
    await save_screenshots(page, "billing-invoice")
    await page.emulate_media(media="print")
    await expect(page.get_by_role("link", name="Download PDF")).to_be_hidden()
    await page.emulate_media(media="screen")

    await page.locator('tr[data-item="cameras"] a').click()
    await expect(page.get_by_test_id("usage-rows").locator("tbody tr")).to_have_count(1)
    await expect(page.get_by_test_id("batches").locator("tbody tr")).to_have_count(1)
    await save_screenshots(page, "billing-line-drilldown")
    await page.get_by_role("link", name="Back to the invoice").click()

    await page.get_by_label(re.compile("Amount to credit")).fill("1.00")
    await page.get_by_label("Reason").fill("camera offline two days")
    await page.get_by_role("button", name="Issue credit note").click()
    await expect(page.locator('tr[data-credit-note="1"]')).to_contain_text("EUR 1.20")
    await page.get_by_role("button", name="Mark paid").click()
    await expect(page.get_by_test_id("invoice-status")).to_have_text("paid")
    await context.close()
    assert external == []
