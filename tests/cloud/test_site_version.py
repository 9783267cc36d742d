"""Upgrades: every sync batch carries the edge's software version; the cloud keeps it per site; API and portal
show it."""

from __future__ import annotations

import httpx
from cloud_helpers import TenantFixture, login, make_batch, send_batch

from sync.wire import EnrollResponse


async def test_the_last_batch_s_version_is_shown_per_site(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    first = make_batch(site.site_id, [1]).model_copy(update={"software_version": "1.4.0"})
    assert (await send_batch(http, site, first)).status_code == 200
    upgraded = make_batch(site.site_id, [2]).model_copy(update={"software_version": "1.5.0rc1"})
    assert (await send_batch(http, site, upgraded)).status_code == 200
    older_edge = make_batch(site.site_id, [3])  # an edge from before versions were sent: the last one stays
    assert (await send_batch(http, site, older_edge)).status_code == 200

    await login(http, tenant.admin_email, tenant.admin_password)
    shown = (await http.get(f"/api/v1/sites/{site.site_id}")).json()
    assert shown["sync"]["software_version"] == "1.5.0rc1"
    page = await http.get(f"/portal/sites/{site.site_id}")
    assert page.status_code == 200
    assert "1.5.0rc1" in page.text


async def test_a_version_with_control_characters_is_refused(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    bad = make_batch(site.site_id, [1]).model_copy(update={"software_version": "1.0\n<script>"})
    response = await send_batch(http, site, bad)
    assert response.status_code == 400, response.text
