"""The configuration pull: signed long-poll (200 document / 204), HQ edits bump versions, reports, isolation."""

from __future__ import annotations

import asyncio
import html
import re
import time
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from cloud_helpers import TenantFixture, enroll, login, make_tenant
from config_helpers import add_person, document, pull, report

from cloud.app import RunningCloud
from cloud.siteconfig import NOTIFIER, RECHECK_S, bump_versions
from sync.signing import SITE_HEADER, sign
from sync.wire import EnrollResponse
from tests.polling import eventually


async def test_first_pull_gets_version_1_then_204_until_an_edit(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    first = document(site, await pull(http, site, 0))
    assert (first.site_id, first.version, first.people) == (site.site_id, 1, [])

    assert (await pull(http, site, first.version)).status_code == 204

    csrf = await login(http, tenant.admin_email)
    person = await add_person(http, csrf, "Ada Lovelace", [site.site_id], ["26:1234"], levels=["staff"])
    level = {"name": "Staff", "doors": ["front"], "schedule": "office"}
    put = await http.put(
        f"/api/v1/sites/{site.site_id}/policy/access-levels/staff", json=level, headers={"X-CSRF-Token": csrf}
    )
    assert put.status_code == 200, put.text
    schedule = {"windows": [{"days": ["mon", "tue"], "start": "08:00", "end": "18:00"}]}
    put = await http.put(
        f"/api/v1/sites/{site.site_id}/policy/schedules/office", json=schedule, headers={"X-CSRF-Token": csrf}
    )
    assert put.status_code == 200, put.text

    doc = document(site, await pull(http, site, first.version))
    assert doc.version == 4  # three edits
    [got] = doc.people
    assert (got.id, got.name, got.levels) == (person["id"], "Ada Lovelace", ["staff"])
    assert [(c.number, c.active) for c in got.credentials] == [("26:1234", True)]
    assert doc.access_levels["staff"].doors == ["front"]
    assert list(doc.schedules) == ["office"]
    assert (await pull(http, site, doc.version)).status_code == 204


async def test_an_invalid_policy_is_a_400_and_bumps_nothing(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    bad = await http.put(
        f"/api/v1/sites/{site.site_id}/policy/access-levels/staff",
        json={"doors": [], "surprise": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    no_csrf = await http.put(f"/api/v1/sites/{site.site_id}/policy/access-levels/staff", json={"doors": ["a"]})
    assert no_csrf.status_code == 403
    assert (await pull(http, site, 1)).status_code == 204


async def test_long_poll_answers_204_after_the_wait(http: httpx.AsyncClient, site: EnrollResponse) -> None:
    start = time.monotonic()
    response = await pull(http, site, 1, wait=1)
    assert response.status_code == 204
    assert time.monotonic() - start >= 1.0


async def test_long_poll_wakes_within_a_second_of_an_edit(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    waiting = asyncio.create_task(pull(http, site, 1, wait=25))
    await eventually(lambda: cloud.app[NOTIFIER].waiting(site.site_id) == 1)  # the pull has read v1 and waits
    edited = time.monotonic()
    await add_person(http, csrf, "Grace Hopper", [site.site_id], ["99"])
    response = await waiting
    assert time.monotonic() - edited < 1.0
    assert [p.name for p in document(site, response).people] == ["Grace Hopper"]


async def test_pull_signatures_are_checked(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    tampered = await pull(http, site, 0, signed_target="/api/v1/sync/config?version=5&wait=0")
    assert tampered.status_code == 401
    wrong_key = await pull(http, site, 0, secret="00" * 32)
    assert wrong_key.status_code == 401
    unsigned = await http.get("/api/v1/sync/config?version=0", headers={SITE_HEADER: site.site_id})
    assert unsigned.status_code == 401
    stranger = site.model_copy(update={"site_id": "nosuchsite"})
    assert (await pull(http, stranger, 0)).status_code == 401
    target = "/api/v1/sync/config?version=abc"
    headers = sign(site.secret, f"GET {target}".encode())
    headers[SITE_HEADER] = site.site_id
    assert (await http.get(target, headers=headers)).status_code == 400
    target = "/api/v1/sync/config?version=0&wait=31"
    headers = sign(site.secret, f"GET {target}".encode())
    headers[SITE_HEADER] = site.site_id
    assert (await http.get(target, headers=headers)).status_code == 400

    csrf = await login(http, tenant.admin_email)
    revoked = await http.post(f"/api/v1/sites/{site.site_id}/revoke", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200
    assert (await pull(http, site, 0)).status_code == 403


async def test_another_tenants_people_never_reach_a_document(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    other = await make_tenant(cloud, "Globex")
    other_site = await enroll(http, other.code, hostname="box-2")
    async with httpx.AsyncClient(base_url=cloud.url) as other_http:
        other_csrf = await login(other_http, other.admin_email)
        await add_person(other_http, other_csrf, "Hank Scorpio", [other_site.site_id], ["666"])
        # Acme's site is not Globex's to configure.
        sneaky = await other_http.post(
            "/api/v1/people",
            json={"name": "Mole", "sites": [site.site_id]},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert sneaky.status_code == 404
        sneaky = await other_http.put(
            f"/api/v1/sites/{site.site_id}/policy/doors/front",
            json={"unlock_s": 60},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert sneaky.status_code == 404
    csrf = await login(http, tenant.admin_email)
    mine = await add_person(http, csrf, "Ada Lovelace", [site.site_id], ["1"])

    doc = document(site, await pull(http, site, 0))
    assert [p.name for p in doc.people] == ["Ada Lovelace"]
    assert doc.doors == {}
    listed = (await http.get("/api/v1/people")).json()["people"]
    assert [p["name"] for p in listed] == ["Ada Lovelace"]
    other_doc = document(other_site, await pull(http, other_site, 0))
    assert [p.name for p in other_doc.people] == ["Hank Scorpio"]
    assert (await http.get(f"/api/v1/people/{other_doc.people[0].id}")).status_code == 404
    assert mine["id"] != other_doc.people[0].id


async def test_badge_revoke_and_person_removal_reach_the_document(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    person = await add_person(http, csrf, "Ada Lovelace", [site.site_id], ["1", "2"])
    before = document(site, await pull(http, site, 0))

    revoked = await http.post(f"/api/v1/people/{person['id']}/badges/1/revoke", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200, revoked.text

    doc = document(site, await pull(http, site, before.version))
    assert [(c.number, c.active) for c in doc.people[0].credentials] == [("1", False), ("2", True)]
    removed = await http.delete(f"/api/v1/people/{person['id']}", headers={"X-CSRF-Token": csrf})
    assert removed.status_code == 200
    assert removed.json()["removed_at"] is not None
    doc = document(site, await pull(http, site, doc.version))
    assert doc.people == []


async def test_badges_with_url_characters_are_revoked_by_api_and_portal(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await login(http, tenant.admin_email)
    numbers = ["AB/12", "7?x=1", "9#2", "5%2F6", "+c", "C/D"]
    person = await add_person(http, csrf, "Ada Lovelace", [site.site_id], numbers)
    for number in numbers[:3]:  # percent-encoded by the API client
        path = f"/api/v1/people/{person['id']}/badges/{quote(number, safe='')}/revoke"
        revoked = await http.post(path, headers={"X-CSRF-Token": csrf})
        assert revoked.status_code == 200, (number, revoked.text)
    page = (await http.get(f"/portal/people/{person['id']}")).text
    for number in numbers[3:]:  # the portal's own revoke forms
        action = re.search(rf'action="([^"]+/badges/{re.escape(quote(number, safe=""))}/revoke)"', page)
        assert action, number
        form = await http.post(html.unescape(action[1]), data={"csrf_token": csrf})
        assert form.status_code in (200, 303), (number, form.text)
    doc = document(site, await pull(http, site, 0))
    assert sorted((c.number, c.active) for c in doc.people[0].credentials) == sorted((n, False) for n in numbers)


async def test_report_is_stored_and_shown_on_the_site_page(
    http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    at = datetime.now(UTC).isoformat()
    applied = {"site_id": site.site_id, "version": 3, "status": "applied", "at": at}
    assert (await report(http, site, applied)).status_code == 204
    await login(http, tenant.admin_email)
    page = await http.get(f"/portal/sites/{site.site_id}")
    assert "config version 3 applied" in page.text

    refused = {**applied, "version": 4, "status": "refused", "reason": "schedule 'night' is not defined"}
    assert (await report(http, site, refused)).status_code == 204
    page = await http.get(f"/portal/sites/{site.site_id}")
    assert "refused: schedule &#39;night&#39; is not defined" in page.text

    wrong_site = {**refused, "site_id": "someone-else"}
    assert (await report(http, site, wrong_site)).status_code == 400
    assert (await report(http, site, {"site_id": site.site_id})).status_code == 400


async def test_an_edit_by_another_worker_is_seen_by_a_waiting_pull(
    cloud: RunningCloud, http: httpx.AsyncClient, site: EnrollResponse
) -> None:
    waiting = asyncio.create_task(pull(http, site, 1, wait=25))
    await eventually(lambda: cloud.app[NOTIFIER].waiting(site.site_id) == 1)  # the pull has read v1 and waits
    edited = time.monotonic()
    # Another worker's edit: the version row changes, but this process's notifier is never told.
    async with cloud.db.begin() as session:
        await bump_versions(session, site.tenant_id, [site.site_id])
    response = await waiting
    assert time.monotonic() - edited < RECHECK_S + 1.5
    assert document(site, response).version == 2
