"""Upgrades: a database with pending migrations is copied first (SQLite backup API); a failed migration leaves
the old database in place (rolled back, or put back from the copy) and the edge refuses to start naming the copy."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import tomli_w

from edge.storage import database
from edge.storage.database import Database, MigrationError
from tests.edge.access.test_access_migrations import make_release_1
from tests.edge.site import site_config_dict
from tests.edge.storage.broken_upgrade import BROKEN_VERSION, commit_then_fail, half_then_fail

LATEST = max(m[0] for m in database.MIGRATIONS)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def tables(path: Path) -> set[str]:
    return {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}  # type: ignore[misc]


async def current_db(path: Path) -> None:
    """A database at the latest schema with one event."""
    db = Database(path)
    await db.migrate()
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO events (kind, occurred_at, source, summary, payload) "
            "VALUES ('audit', '2026-12-01 10:00:00', 'front', 'granted', '{}')"
        )


async def test_an_upgrade_backs_up_first_and_a_fresh_database_needs_no_copy(tmp_path: Path) -> None:
    fresh = Database(tmp_path / "fresh.db")
    await fresh.migrate()
    await fresh.close()
    assert not (tmp_path / "backups").exists()

    make_release_1(tmp_path / "old.db")
    old = Database(tmp_path / "old.db")
    assert await old.migrate() == LATEST
    assert await old.migrate() == LATEST  # nothing pending: no second copy
    await old.close()
    (copy,) = (tmp_path / "backups").iterdir()
    assert copy.name.startswith("old-schema1-") and copy.suffix == ".db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert rows(copy, "SELECT version FROM schema_version") == [(1,)]
    assert rows(copy, "SELECT name FROM people") == [("Ada",)]
    assert rows(copy, "PRAGMA journal_mode") == [("delete",)]  # one standalone file


@pytest.mark.parametrize("broken", [half_then_fail, commit_then_fail])
async def test_a_failed_migration_leaves_the_old_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: database.Migration
) -> None:
    path = tmp_path / "edge.db"
    await current_db(path)
    monkeypatch.setattr(database, "MIGRATIONS", [*database.MIGRATIONS, (BROKEN_VERSION, "broken", broken)])
    db = Database(path)
    with pytest.raises(MigrationError) as failed:
        await db.migrate()
    await db.close()
    (copy,) = (tmp_path / "backups").iterdir()
    message = str(failed.value)
    assert str(copy) in message and f"migration {BROKEN_VERSION} (broken) failed" in message
    assert f"schema version {LATEST}" in message
    assert "half_done" not in tables(path)
    assert rows(path, "SELECT count(*) FROM events") == [(1,)]
    assert rows(path, "SELECT max(version) FROM schema_version") == [(LATEST,)]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]


async def test_the_edge_refuses_to_start_after_a_failed_upgrade_and_names_the_copy(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config_path = tmp_path / "edge.toml"
    config_path.write_text(tomli_w.dumps(site_config_dict(data_dir)))
    config_path.chmod(0o600)
    await current_db(data_dir / "edge.db")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.edge.storage.broken_upgrade",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3, (out + err).decode()[-2000:]
    (copy,) = (data_dir / "backups").iterdir()
    last_line = err.decode().strip().splitlines()[-1]
    assert last_line.startswith("outpost-edge: refusing to start: edge database migration 999")
    assert str(copy) in last_line
    assert "Traceback" not in err.decode()
    assert rows(data_dir / "edge.db", "SELECT count(*) FROM events") == [(1,)]
    assert "half_done" not in tables(data_dir / "edge.db")
