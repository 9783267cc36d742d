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


async def test_the_roles_revision_makes_each_tenants_first_admin_its_owner_and_downgrades(db_url: str) -> None:
    from sqlalchemy import text

    from cloud.db.engine import create_engine
    from cloud.db.migrate import downgrade, upgrade

    await upgrade(db_url, "0010")
    engine = create_engine(db_url)
    users = [
        (1, "t1", "first@acme.example", "admin"),
        (2, "t1", "second@acme.example", "admin"),
        (3, "t1", "view@acme.example", "viewer"),
        (4, "t2", "view@globex.example", "viewer"),
        (5, "t2", "boss@globex.example", "admin"),
    ]
    try:
        async with engine.begin() as conn:
            for tenant, name in (("t1", "Acme"), ("t2", "Globex")):
                await conn.execute(
                    text("INSERT INTO tenants (id, name, created_at) VALUES (:t, :n, '2026-01-01')"),
                    {"t": tenant, "n": name},
                )
            for user_id, tenant, email, role in users:
                await conn.execute(
                    text(
                        "INSERT INTO users (id, tenant_id, email, password_hash, role, created_at) "
                        "VALUES (:i, :t, :e, 'x', :r, '2026-01-01')"
                    ),
                    {"i": user_id, "t": tenant, "e": email, "r": role},
                )
    finally:
        await engine.dispose()

    async def roles() -> dict[int, str]:
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                return {row.id: row.role for row in await conn.execute(text("SELECT id, role FROM users"))}
        finally:
            await engine.dispose()

    await upgrade(db_url, "0011")
    assert await roles() == {1: "owner", 2: "admin", 3: "viewer", 4: "viewer", 5: "owner"}

    await downgrade(db_url, "0010")
    assert await roles() == {1: "admin", 2: "admin", 3: "viewer", 4: "viewer", 5: "admin"}
