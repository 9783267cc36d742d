"""The role table: every route declares its access, the doc shows the code's table, each role gets exactly it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from cloud_helpers import PASSWORD, TenantFixture, login

from cloud.admin import create_user
from cloud.app import RunningCloud, build_app
from cloud.config import CloudConfig
from cloud.permissions import PERMISSIONS, ROLE_PERMISSIONS, ROLES, access_of, markdown_table, permissions_of
from tests.paths import REPO

DOC = REPO / "docs" / "CLOUD.md"


def _routes(tmp_path: Path) -> list[tuple[str, str, object]]:
    app = build_app(CloudConfig(data_dir=tmp_path, port=0))
    return [
        (route.method, route.resource.canonical, route.handler)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]


def test_every_route_declares_its_access(tmp_path: Path) -> None:
    undeclared = [f"{method} {path}" for method, path, handler in _routes(tmp_path) if access_of(handler) is None]

    assert undeclared == []


def test_declared_permissions_exist_and_every_role_is_in_the_table(tmp_path: Path) -> None:
    for _, _, handler in _routes(tmp_path):
        access = access_of(handler)
        assert access is not None
        assert access.permission is None or access.permission in PERMISSIONS
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    assert ROLE_PERMISSIONS["owner"] == frozenset(PERMISSIONS)
    assert permissions_of("no-such-role") == frozenset()


def test_the_doc_shows_the_table_in_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- permissions-table:start -->\n(.*?)<!-- permissions-table:end -->", text, re.S)

    assert match, "docs/CLOUD.md lost its permissions-table markers"
    assert match.group(1) == markdown_table(), "docs/CLOUD.md differs from cloud/permissions.py; regenerate it"


def _fill(path: str) -> str:
    # Ids nobody has: a route the role may call answers 404/400, one it may not 403 before any lookup.
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_each_role_gets_exactly_what_the_table_says(
    cloud: RunningCloud, tenant: TenantFixture, tmp_path: Path
) -> None:
    routes = [
        (method, path, access.permission)
        for method, path, handler in _routes(tmp_path / "routes")
        if (access := access_of(handler)) is not None and access.kind == "permission" and access.permission
    ]
    assert len(routes) > 20
    for role in ROLES:
        email = f"{role}@acme.example"
        await create_user(cloud.db, tenant.tenant_id, email, PASSWORD, role=role)
        async with httpx.AsyncClient(base_url=cloud.url, timeout=30) as http:
            csrf = await login(http, email)
            for method, path, permission in routes:
                response = await http.request(method, _fill(path), headers={"X-CSRF-Token": csrf})
                allowed = permission in ROLE_PERMISSIONS[role]
                denied = response.status_code == 403
                assert denied != allowed, f"{role} {method} {path} ({permission}): {response.status_code}"
                assert response.status_code < 500, f"{role} {method} {path}: {response.status_code}"
