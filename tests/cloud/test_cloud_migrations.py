"""Alembic migrations: an empty database reaches head, matches the models, and round-trips via base."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from cloud.analytics.partitions import include_name
from cloud.db.engine import create_engine
from cloud.db.migrate import alembic_config, current_revision, downgrade, upgrade
from cloud.db.models import Base

APP_TABLES = {"tenants", "users", "sessions", "sites", "enrollment_codes", "records"}
CONFIG_TABLES = {"people", "badges", "person_sites", "site_policies", "site_configs", "config_conflicts"}


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def schema_diff(url: str) -> list[object]:
    def diff(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True, "include_name": include_name})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def test_empty_database_migrates_to_head_matching_the_models(db_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    await upgrade(db_url)

    assert await current_revision(db_url) == head
    assert APP_TABLES <= await table_names(db_url)
    assert await schema_diff(db_url) == []


async def test_upgrade_is_idempotent(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)

    assert await current_revision(db_url) is not None


async def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    await upgrade(db_url)

    await downgrade(db_url, "base")

    assert await current_revision(db_url) is None
    assert not APP_TABLES & await table_names(db_url)

    await upgrade(db_url)

    assert APP_TABLES <= await table_names(db_url)
    assert await schema_diff(db_url) == []


async def test_site_config_revision_upgrades_a_database_with_sites_and_downgrades_cleanly(db_url: str) -> None:
    await upgrade(db_url, "0002")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'Acme', '2026-01-01')"))
            await conn.execute(
                text(
                    "INSERT INTO sites (id, tenant_id, name, timezone, secret, enrolled_at, hostname, last_seq) "
                    "VALUES ('s1', 't1', 'Warehouse', 'UTC', 'ab', '2026-01-01', 'box', 0)"
                )
            )
    finally:
        await engine.dispose()

    await upgrade(db_url)

    assert CONFIG_TABLES <= await table_names(db_url)
    assert await schema_diff(db_url) == []
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM sites WHERE id = 's1'"))).scalar_one() == "Warehouse"
    finally:
        await engine.dispose()

    await downgrade(db_url, "0002")

    assert not CONFIG_TABLES & await table_names(db_url)
    assert {"sites", "records"} <= await table_names(db_url)


async def column_names(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: inspect(sync).get_columns(table))
            return {column["name"] for column in columns}
    finally:
        await engine.dispose()


async def test_csrf_revision_drops_the_stored_token_keeping_sessions_and_downgrades_cleanly(db_url: str) -> None:
    await upgrade(db_url, "0005")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'Acme', '2026-01-01')"))
            await conn.execute(
                text(
                    "INSERT INTO users (id, tenant_id, email, password_hash, role, created_at) "
                    "VALUES (1, 't1', 'a@acme.example', 'x', 'admin', '2026-01-01')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO sessions (token_digest, user_id, csrf_token, created_at, expires_at) "
                    "VALUES ('d1', 1, 'clear-csrf', '2026-01-01', '2099-01-01')"
                )
            )
    finally:
        await engine.dispose()

    await upgrade(db_url, "0006")

    assert "csrf_token" not in await column_names(db_url, "sessions")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            # The session lives on: its CSRF token is derived from the cookie from now on.
            assert (await conn.execute(text("SELECT user_id FROM sessions WHERE token_digest = 'd1'"))).scalar() == 1
    finally:
        await engine.dispose()

    await downgrade(db_url, "0005")

    assert "csrf_token" in await column_names(db_url, "sessions")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            # The stored tokens cannot be recovered: the downgrade ends every session.
            assert (await conn.execute(text("SELECT count(*) FROM sessions"))).scalar() == 0
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 1
    finally:
        await engine.dispose()

    await upgrade(db_url)

    assert await schema_diff(db_url) == []


async def test_suspended_by_revision_marks_existing_suspensions_as_hq_and_downgrades_cleanly(db_url: str) -> None:
    await upgrade(db_url, "0006")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'Acme', '2026-01-01')"))
            for pk, active in ((1, True), (2, False)):
                await conn.execute(
                    text(
                        "INSERT INTO people (pk, tenant_id, id, name, active, levels, updated_at) "
                        "VALUES (:pk, 't1', :id, 'P', :active, '[]', '2026-01-01')"
                    ),
                    {"pk": pk, "id": f"p{pk}", "active": active},
                )
    finally:
        await engine.dispose()

    await upgrade(db_url, "0007")

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            # Who made an existing suspension is unknown: it is taken as HQ's, the one that keeps winning.
            rows = (await conn.execute(text("SELECT id, suspended_by FROM people ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [("p1", None), ("p2", "hq")]
    finally:
        await engine.dispose()

    await downgrade(db_url, "0006")

    assert "suspended_by" not in await column_names(db_url, "people")
    await upgrade(db_url)
    assert await schema_diff(db_url) == []
