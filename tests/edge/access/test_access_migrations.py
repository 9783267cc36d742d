"""Migration 2 (access control): a fresh database and one upgraded from release 1 end up identical."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.storage import database
from edge.storage.database import Database

# The schema release 1 created (migration 1 = metadata.create_all at that time), verbatim from sqlite_master.
V1_SCHEMA = [
    "CREATE TABLE console_users (\n\tid INTEGER NOT NULL, \n\tusername VARCHAR(64) NOT NULL, \n\tpassword_hash TEXT "
    "NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tUNIQUE (username)\n)",
    "CREATE TABLE console_sessions (\n\ttoken_hash VARCHAR(64) NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tcsrf_token "
    "VARCHAR(64) NOT NULL, \n\texpires_at DATETIME NOT NULL, \n\tPRIMARY KEY (token_hash), \n\tFOREIGN KEY(user_id) "
    "REFERENCES console_users (id) ON DELETE CASCADE\n)",
    "CREATE TABLE people (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(120) NOT NULL, \n\tactive BOOLEAN NOT NULL, "
    "\n\tcreated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE TABLE credentials (\n\tid INTEGER NOT NULL, \n\tperson_id INTEGER NOT NULL, \n\tnumber VARCHAR(128) NOT "
    "NULL, \n\tactive BOOLEAN NOT NULL, \n\tvalid_from DATETIME, \n\tvalid_until DATETIME, \n\tPRIMARY KEY (id), "
    "\n\tFOREIGN KEY(person_id) REFERENCES people (id) ON DELETE CASCADE, \n\tUNIQUE (number)\n)",
    "CREATE TABLE device_state (\n\tdevice_id VARCHAR(64) NOT NULL, \n\tonline BOOLEAN NOT NULL, \n\tlast_seen "
    "DATETIME, \n\tstate JSON NOT NULL, \n\tPRIMARY KEY (device_id)\n)",
    "CREATE TABLE events (\n\tid INTEGER NOT NULL, \n\tkind VARCHAR(32) NOT NULL, \n\toccurred_at DATETIME NOT NULL, "
    "\n\tsource VARCHAR(64) NOT NULL, \n\tsummary TEXT NOT NULL, \n\tpayload JSON NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE INDEX ix_events_occurred_at ON events (occurred_at)",
    "CREATE TABLE mqtt_client_bindings (\n\tclient_id VARCHAR(128) NOT NULL, \n\tusername VARCHAR(64) NOT NULL, "
    "\n\tPRIMARY KEY (client_id)\n)",
    "CREATE TABLE outbox (\n\tseq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \n\tkind VARCHAR(32) NOT NULL, "
    "\n\toccurred_at DATETIME NOT NULL, \n\tpayload JSON NOT NULL, \n\tacked BOOLEAN NOT NULL\n)",
    "CREATE INDEX ix_outbox_pending ON outbox (acked, seq)",
]
V1_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT)"


def schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())


def make_release_1(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(V1_VERSION_TABLE)
        for statement in V1_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, 'initial schema')")
        conn.execute("INSERT INTO people (id, name, active, created_at) VALUES (1, 'Ada', 1, '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO credentials (person_id, number, active) VALUES (1, '0004217', 1)")


async def test_fresh_and_upgraded_databases_are_identical(tmp_path: Path) -> None:
    fresh = Database(tmp_path / "fresh.db")
    assert await fresh.migrate() == len(database.MIGRATIONS)
    await fresh.close()

    make_release_1(tmp_path / "old.db")
    upgraded = Database(tmp_path / "old.db")
    assert await upgraded.migrate() == len(database.MIGRATIONS)
    assert await upgraded.migrate() == len(database.MIGRATIONS)  # nothing left to do the second time
    await upgraded.close()

    assert schema(tmp_path / "fresh.db") == schema(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        assert conn.execute("SELECT number FROM credentials WHERE person_id = 1").fetchall() == [("0004217",)]
        conn.execute("INSERT INTO person_levels VALUES (1, 'staff')")
        conn.execute("INSERT INTO person_access (person_id, role) VALUES (1, 'security')")
        conn.execute("DELETE FROM people WHERE id = 1")  # access rows go with the person
        assert conn.execute("SELECT count(*) FROM person_levels").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM person_access").fetchone() == (0,)


async def test_migration_1_still_creates_release_1(tmp_path: Path) -> None:
    """Migration 1 is metadata.create_all: a table or column added to `metadata` would change it silently."""
    db = Database(tmp_path / "v1.db")
    saved = list(database.MIGRATIONS)
    database.MIGRATIONS[:] = saved[:1]
    try:
        await db.migrate()
    finally:
        database.MIGRATIONS[:] = saved
        await db.close()
    make_release_1(tmp_path / "reference.db")
    assert schema(tmp_path / "v1.db") == schema(tmp_path / "reference.db"), (
        "migration 1 changed: put new tables in a new numbered migration with explicit DDL"
    )


async def test_a_failing_migration_leaves_no_half_schema(tmp_path: Path) -> None:
    make_release_1(tmp_path / "old.db")
    before = schema(tmp_path / "old.db")
    db = Database(tmp_path / "old.db")
    saved = list(database.MIGRATIONS)

    async def broken(_conn) -> None:
        raise RuntimeError("disk full")

    database.MIGRATIONS.append((len(saved) + 1, "broken", broken))
    try:
        with pytest.raises(database.MigrationError, match="disk full"):
            await db.migrate()
    finally:
        database.MIGRATIONS[:] = saved
        await db.close()
    assert schema(tmp_path / "old.db") == before  # migration 2's tables were rolled back with it
