"""Users, invitations (shown once, or e-mailed through a real SMTP server), password reset, disabling, role and
site limits, API keys and the audit log, through the portal's forms and the JSON API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from cloud_helpers import PASSWORD, TenantFixture, enroll, login, make_tenant, portal_csrf, portal_login

from cloud.admin import create_user
from cloud.app import RunningCloud, started_cloud
from cloud.config import CloudConfig, SmtpSettings
from sync.wire import EnrollResponse
from tests.net import free_port

NEW_PASSWORD = "a brand new passphrase"


async def _owner_portal(http: httpx.AsyncClient, tenant: TenantFixture) -> str:
    response = await portal_login(http, tenant.admin_email, tenant.admin_password)
    assert response.status_code == 303
    return portal_csrf((await http.get("/portal/users")).text)


def _link(html: str) -> str:
    match = re.search(r'data-testid="link-url"[^>]*>([^<]+)<', html)
    assert match, html
    return httpx.URL(match.group(1)).path


async def _set_password(base_url: str, path: str, password: str = NEW_PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        page = await anonymous.get(path)
        assert page.status_code == 200, page.text
        return await anonymous.post(path, data={"password": password, "confirm": password})


async def test_invitation_link_is_shown_once_works_once_and_the_user_logs_in_with_the_role(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await _owner_portal(http, tenant)

    invited = await http.post(
        "/portal/users/invite",
        data={"csrf_token": csrf, "email": "Guard@Acme.example", "role": "security", "sites": site.site_id},
    )

    assert invited.status_code == 200, invited.text
    path = _link(invited.text)
    assert path.startswith("/set-password/")
    assert path.split("/")[-1] not in (await http.get("/portal/users")).text  # shown once
    done = await _set_password(cloud.url, path)
    assert done.status_code == 200 and "password is set" in done.text
    async with httpx.AsyncClient(base_url=cloud.url) as again:
        assert (await again.post(path, data={"password": "x" * 12, "confirm": "x" * 12})).status_code == 404
    async with httpx.AsyncClient(base_url=cloud.url) as guard:
        session = await guard.post("/api/v1/login", json={"email": "guard@acme.example", "password": NEW_PASSWORD})
        assert session.json()["role"] == "security"
        sites = (await guard.get("/api/v1/sites")).json()["sites"]
        assert [s["id"] for s in sites] == [site.site_id]
        assert (await guard.get("/portal/users")).status_code == 403


async def test_a_user_limited_to_one_site_sees_only_that_site(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    await login(http, tenant.admin_email)
    code = (
        await http.post(
            "/api/v1/enrollment-codes",
            json={"site_name": "Depot", "ttl_hours": 1},
            headers={"X-CSRF-Token": await login(http, tenant.admin_email)},
        )
    ).json()["code"]
    other = await enroll(http, code, hostname="box-2")
    user = await create_user(cloud.db, tenant.tenant_id, "depot@acme.example", PASSWORD, role="viewer")
    csrf = await _owner_portal(http, tenant)
    changed = await http.post(
        f"/portal/users/{user.id}", data={"csrf_token": csrf, "role": "viewer", "sites": other.site_id}
    )
    assert changed.status_code == 303, changed.text

    async with httpx.AsyncClient(base_url=cloud.url) as depot:
        await login(depot, "depot@acme.example")
        assert [s["id"] for s in (await depot.get("/api/v1/sites")).json()["sites"]] == [other.site_id]
        assert (await depot.get(f"/api/v1/sites/{site.site_id}")).status_code == 404
        assert (await depot.get(f"/api/v1/sites/{site.site_id}/records")).status_code == 404
        assert (await depot.get(f"/portal/sites/{site.site_id}")).status_code == 404


async def test_disabling_a_user_ends_their_sessions_and_blocks_login(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    user = await create_user(cloud.db, tenant.tenant_id, "leaver@acme.example", PASSWORD, role="admin")
    async with httpx.AsyncClient(base_url=cloud.url) as leaver:
        await login(leaver, "leaver@acme.example")
        assert (await leaver.get("/api/v1/sites")).status_code == 200
        csrf = await _owner_portal(http, tenant)

        disabled = await http.post(f"/portal/users/{user.id}/disable", data={"csrf_token": csrf})

        assert disabled.status_code == 303
        assert (await leaver.get("/api/v1/sites")).status_code == 401
        again = await leaver.post("/api/v1/login", json={"email": "leaver@acme.example", "password": PASSWORD})
        assert again.status_code == 401


async def test_admins_cannot_touch_owners_and_the_last_owner_stays(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    await create_user(cloud.db, tenant.tenant_id, "boss@acme.example", PASSWORD, role="admin")
    owner_csrf = await _owner_portal(http, tenant)
    users_page = (await http.get("/portal/users")).text
    owner_id = re.search(r'action="/portal/users/(\d+)/reset"', users_page)
    assert owner_id  # the admin's reset form (the owner cannot act on themself)
    async with httpx.AsyncClient(base_url=cloud.url) as boss:
        await portal_login(boss, "boss@acme.example", PASSWORD)
        csrf = portal_csrf((await boss.get("/portal/users")).text)
        own = await _user_id(cloud, tenant.admin_email)
        refused = await boss.post(f"/portal/users/{own}/disable", data={"csrf_token": csrf})
        assert refused.status_code == 400 and "owner" in refused.text
        promote = await boss.post(f"/portal/users/{own}", data={"csrf_token": csrf, "role": "viewer", "all_sites": "1"})
        assert promote.status_code == 400
    self_demote = await http.post(
        f"/portal/users/{await _user_id(cloud, tenant.admin_email)}",
        data={"csrf_token": owner_csrf, "role": "admin", "all_sites": "1"},
    )
    assert self_demote.status_code == 400 and "at least one active owner" in self_demote.text


async def _user_id(cloud: RunningCloud, email: str) -> int:
    from sqlalchemy import select

    from cloud.db.models import User
    from cloud.db.tenant_context import system_context

    with system_context():
        async with cloud.db() as session:
            user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id


async def test_password_reset_link_replaces_the_password_and_ends_sessions(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    user = await create_user(cloud.db, tenant.tenant_id, "forgetful@acme.example", PASSWORD, role="hr")
    async with httpx.AsyncClient(base_url=cloud.url) as forgetful:
        await login(forgetful, "forgetful@acme.example")
        csrf = await _owner_portal(http, tenant)

        reset = await http.post(f"/portal/users/{user.id}/reset", data={"csrf_token": csrf})
        assert reset.status_code == 200
        assert (await _set_password(cloud.url, _link(reset.text))).status_code == 200

        assert (await forgetful.get("/api/v1/sites")).status_code == 401
        old = await forgetful.post("/api/v1/login", json={"email": "forgetful@acme.example", "password": PASSWORD})
        assert old.status_code == 401
        await login(forgetful, "forgetful@acme.example", NEW_PASSWORD)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[_Inbox, int]]:
    """A real SMTP server (aiosmtpd) on a loopback port, collecting the messages it receives."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mailing_cloud(tmp_path: Path, db_url: str, smtp_inbox: tuple[_Inbox, int]) -> AsyncIterator[RunningCloud]:
    """A cloud whose invitations go through the loopback SMTP server."""
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_inbox[1], sender="outpost@hq.example", starttls=False)
    config = CloudConfig(
        data_dir=tmp_path / "mail-cloud",
        database_url=db_url,
        port=0,
        public_url="http://hq.example",
        smtp=smtp,
    )
    async with started_cloud(config) as running:
        yield running


async def test_invitation_is_mailed_through_the_configured_smtp_server_and_not_shown(
    mailing_cloud: RunningCloud, smtp_inbox: tuple[_Inbox, int]
) -> None:
    tenant = await make_tenant(mailing_cloud, "Mailco")
    async with httpx.AsyncClient(base_url=mailing_cloud.url) as http:
        csrf = await _owner_portal(http, tenant)

        invited = await http.post(
            "/portal/users/invite",
            data={"csrf_token": csrf, "email": "new@mailco.example", "role": "viewer", "all_sites": "1"},
        )

    assert invited.status_code == 200
    assert "was e-mailed to" in invited.text and "/set-password/" not in invited.text
    inbox, _ = smtp_inbox
    [(sender, recipients, content)] = inbox.messages
    assert sender == "outpost@hq.example" and recipients == ["new@mailco.example"]
    link = re.search(r"http://hq\.example(/set-password/\S+)", content)
    assert link
    assert (await _set_password(mailing_cloud.url, link.group(1))).status_code == 200


async def test_api_key_is_shown_once_scoped_usable_as_bearer_tracks_last_use_and_revokes(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await _owner_portal(http, tenant)
    created = await http.post(
        "/portal/api-keys",
        data={"csrf_token": csrf, "name": "payroll", "permissions": ["sites.read"], "all_sites": "1"},
    )
    assert created.status_code == 200, created.text
    token_match = re.search(r'data-testid="new-key"[^>]*>(opk_[^<]+)<', created.text)
    assert token_match
    token = token_match.group(1)
    assert token not in (await http.get("/portal/api-keys")).text
    assert "never" in (await http.get("/portal/api-keys")).text

    async with httpx.AsyncClient(base_url=cloud.url, headers={"Authorization": f"Bearer {token}"}) as key:
        assert [s["id"] for s in (await key.get("/api/v1/sites")).json()["sites"]] == [site.site_id]
        assert (await key.get(f"/api/v1/sites/{site.site_id}/records")).status_code == 403  # not in its scope
        assert (await key.get("/api/v1/people")).status_code == 403
        assert "never" not in (await http.get("/portal/api-keys")).text  # last used is set

        key_id = re.search(r'action="/portal/api-keys/(\d+)/revoke"', (await http.get("/portal/api-keys")).text)
        assert key_id
        revoked = await http.post(f"/portal/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert (await key.get("/api/v1/sites")).status_code == 401
    async with httpx.AsyncClient(base_url=cloud.url, headers={"Authorization": "Bearer opk_nonsense"}) as bad:
        assert (await bad.get("/api/v1/sites")).json()["error"] == "bad_api_key"


async def test_a_key_cannot_get_more_than_its_creator_has(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    await create_user(cloud.db, tenant.tenant_id, "sec@acme.example", PASSWORD, role="security")
    await _owner_portal(http, tenant)
    async with httpx.AsyncClient(base_url=cloud.url) as sec:
        await portal_login(sec, "sec@acme.example", PASSWORD)
        assert (await sec.get("/portal/api-keys")).status_code == 403


async def test_admin_actions_are_in_the_audit_log_with_who_and_where_filterable_and_exported(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    csrf = await _owner_portal(http, tenant)
    headers = {"User-Agent": "audit-test/1.0"}
    await http.post(
        "/portal/users/invite",
        data={"csrf_token": csrf, "email": "temp@acme.example", "role": "viewer", "all_sites": "1"},
        headers=headers,
    )
    await http.post(f"/portal/sites/{site.site_id}/revoke", data={"csrf_token": csrf}, headers=headers)
    api_csrf = await login(http, tenant.admin_email)
    await http.post("/api/v1/people", json={"name": "Ada", "sites": [site.site_id]}, headers={"X-CSRF-Token": api_csrf})

    page = await http.get("/portal/audit")
    assert page.status_code == 200
    for action in ("user.invite", "POST /portal/sites/{site_id}/revoke", "POST /api/v1/people"):
        assert f'data-action="{action}"' in page.text
    assert "audit-test/1.0" in page.text and "127.0.0.1" in page.text

    only_invites = await http.get("/portal/audit", params={"action": "user.invite"})
    assert only_invites.text.count("data-action=") == 1
    export = await http.get("/portal/audit.csv", params={"actor": tenant.admin_email})
    assert export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["action"] for r in rows} >= {"user.invite", "POST /api/v1/people"}
    assert all(r["actor"] == tenant.admin_email for r in rows)
    invite = next(r for r in rows if r["action"] == "user.invite")
    assert invite["target"] == "temp@acme.example" and invite["user_agent"] == "audit-test/1.0"
    assert (await http.get("/portal/audit", params={"since": "not a date"})).status_code == 400


async def test_audit_log_pages(cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture) -> None:
    csrf = await _owner_portal(http, tenant)
    for n in range(55):
        response = await http.post(
            "/portal/api-keys",
            data={"csrf_token": csrf, "name": f"k{n}", "permissions": ["sites.read"], "all_sites": "1"},
        )
        assert response.status_code == 200

    first = await http.get("/portal/audit")
    second = await http.get("/portal/audit", params={"page": 2})

    assert first.text.count("data-action=") == 50 and "page 1 of 2" in first.text
    assert second.text.count("data-action=") == 5 and 'rel="prev"' in second.text


async def test_an_integration_reads_the_audit_log_with_an_api_key(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    csrf = await _owner_portal(http, tenant)
    tokens = {}
    for name, permission in (("siem", "audit.read"), ("dashboard", "sites.read")):
        created = await http.post(
            "/portal/api-keys",
            data={"csrf_token": csrf, "name": name, "permissions": [permission], "all_sites": "1"},
        )
        match = re.search(r'data-testid="new-key"[^>]*>(opk_[^<]+)<', created.text)
        assert match
        tokens[name] = match.group(1)

    siem = await http.get("/api/v1/audit", headers={"Authorization": f"Bearer {tokens['siem']}"})
    denied = await http.get("/api/v1/audit", headers={"Authorization": f"Bearer {tokens['dashboard']}"})
    bad = await http.get("/api/v1/audit", params={"page": "0"}, headers={"Authorization": f"Bearer {tokens['siem']}"})

    assert siem.status_code == 200
    body = siem.json()
    assert [e["action"] for e in body["entries"]] == ["apikey.create", "apikey.create"]
    assert body["entries"][0]["target"] == "dashboard" and body["entries"][0]["actor"] == tenant.admin_email
    assert denied.status_code == 403 and bad.status_code == 400


async def test_a_site_limited_user_edits_only_what_affects_their_sites(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture, site: EnrollResponse
) -> None:
    owner_csrf = await login(http, tenant.admin_email)
    code = await http.post(
        "/api/v1/enrollment-codes", json={"site_name": "Depot"}, headers={"X-CSRF-Token": owner_csrf}
    )
    depot = await enroll(http, code.json()["code"], hostname="box-2")
    both = await http.post(
        "/api/v1/people",
        json={"name": "Ada", "sites": [site.site_id, depot.site_id]},
        headers={"X-CSRF-Token": owner_csrf},
    )
    user = await create_user(cloud.db, tenant.tenant_id, "local@acme.example", PASSWORD, role="security")
    portal = await _owner_portal(http, tenant)
    limited = await http.post(
        f"/portal/users/{user.id}", data={"csrf_token": portal, "role": "security", "sites": depot.site_id}
    )
    assert limited.status_code == 303

    async with httpx.AsyncClient(base_url=cloud.url) as local:
        csrf = await login(local, "local@acme.example")
        headers = {"X-CSRF-Token": csrf}
        mine = await local.post("/api/v1/people", json={"name": "Bo", "sites": [depot.site_id]}, headers=headers)
        theirs = await local.post("/api/v1/people", json={"name": "Cy", "sites": [site.site_id]}, headers=headers)
        shared = await local.delete(f"/api/v1/people/{both.json()['id']}", headers=headers)
        policy = await local.put(
            f"/api/v1/sites/{site.site_id}/policy/access-levels/x",
            json={"name": "x", "doors": ["front"]},
            headers=headers,
        )
        read = await local.get(f"/api/v1/sites/{site.site_id}/policy")

    assert mine.status_code == 201
    assert (theirs.status_code, shared.status_code, policy.status_code, read.status_code) == (404, 404, 404, 404)
    names = {p["name"] for p in (await http.get("/api/v1/people")).json()["people"] if not p.get("removed_at")}
    assert names == {"Ada", "Bo"}


async def test_an_expired_link_or_one_for_a_disabled_user_sets_nothing(
    cloud: RunningCloud, http: httpx.AsyncClient, tenant: TenantFixture
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from cloud.db.models import UserToken, utcnow
    from cloud.db.tenant_context import system_context
    from cloud.users import token_hash

    csrf = await _owner_portal(http, tenant)
    links = []
    for email in ("late@acme.example", "gone@acme.example"):
        invited = await http.post(
            "/portal/users/invite", data={"csrf_token": csrf, "email": email, "role": "viewer", "all_sites": "1"}
        )
        links.append(_link(invited.text))
    with system_context():
        async with cloud.db.begin() as session:
            await session.execute(
                update(UserToken)
                .where(UserToken.token_hash == token_hash(links[0].split("/")[-1]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    gone = await _user_id(cloud, "gone@acme.example")
    assert (await http.post(f"/portal/users/{gone}/disable", data={"csrf_token": csrf})).status_code == 303

    async with httpx.AsyncClient(base_url=cloud.url) as anonymous:
        for link in links:
            assert (await anonymous.get(link)).status_code == 404
            posted = await anonymous.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
            assert posted.status_code == 404
        for email in ("late@acme.example", "gone@acme.example"):
            refused = await anonymous.post("/api/v1/login", json={"email": email, "password": NEW_PASSWORD})
            assert refused.status_code == 401


async def test_a_user_asks_for_a_reset_link_by_mail_and_the_answer_does_not_tell_who_has_an_account(
    mailing_cloud: RunningCloud, smtp_inbox: tuple[_Inbox, int]
) -> None:
    from cloud.forgot_password import PENDING
    from tests.polling import eventually

    tenant = await make_tenant(mailing_cloud, "Resetco")
    inbox, _ = smtp_inbox
    async with httpx.AsyncClient(base_url=mailing_cloud.url) as anonymous:
        assert "Forgot your password?" in (await anonymous.get("/login")).text
        unknown = await anonymous.post("/forgot-password", data={"email": "nobody@resetco.example"})
        known = await anonymous.post("/forgot-password", data={"email": tenant.admin_email.upper()})
        bad = await anonymous.post("/forgot-password", data={"email": "not an address"})

        assert unknown.status_code == known.status_code == 200 and unknown.text == known.text
        assert bad.status_code == 400
        await eventually(lambda: not mailing_cloud.app[PENDING] and inbox.messages, timeout_s=30)
        [(_, recipients, content)] = inbox.messages
        assert recipients == [tenant.admin_email]
        link = re.search(r"http://hq\.example(/set-password/\S+)", content)
        assert link
    assert (await _set_password(mailing_cloud.url, link.group(1))).status_code == 200
    async with httpx.AsyncClient(base_url=mailing_cloud.url) as owner:
        await login(owner, tenant.admin_email, NEW_PASSWORD)
        audit = await owner.get("/api/v1/audit", params={"action": "user.reset_requested"})
    assert [e["actor"] for e in audit.json()["entries"]] == [tenant.admin_email]


async def test_without_smtp_the_forgot_page_sends_people_to_their_administrator(http: httpx.AsyncClient) -> None:
    page = await http.get("/forgot-password")
    posted = await http.post("/forgot-password", data={"email": "someone@acme.example"})

    assert page.status_code == 200 and "Ask your administrator" in page.text
    assert posted.status_code == 404
