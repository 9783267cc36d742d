"""The edge SQLite database: engine with WAL + FULL sync, and numbered migrations at start."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from edge.rules.schema import m011_rules
from edge.storage.backup import online_copy, pre_upgrade_path, put_back
from edge.storage.schema import metadata
from edge.storage.writer import SqliteWriter

log = logging.getLogger(__name__)

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _m001_initial(conn: AsyncConnection) -> None:
    await conn.run_sync(metadata.create_all)


_M002_ACCESS_CONTROL = (
    """CREATE TABLE person_access (
        person_id INTEGER NOT NULL PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
        external_id VARCHAR(64) UNIQUE,
        role VARCHAR(64),
        valid_from DATETIME,
        valid_until DATETIME,
        pin_hash VARCHAR(160)
    )""",
    """CREATE TABLE person_levels (
        person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        level_id VARCHAR(64) NOT NULL,
        PRIMARY KEY (person_id, level_id)
    )""",
    """CREATE TABLE access_snapshot (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        applied_at DATETIME NOT NULL
    )""",
    """CREATE TABLE lockdowns (
        scope VARCHAR(80) NOT NULL PRIMARY KEY,
        since DATETIME NOT NULL,
        set_by VARCHAR(64) NOT NULL,
        reason TEXT NOT NULL
    )""",
    """CREATE TABLE passback_presence (
        person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        zone_id VARCHAR(64) NOT NULL,
        inside BOOLEAN NOT NULL,
        at DATETIME NOT NULL,
        PRIMARY KEY (person_id, zone_id)
    )""",
    "CREATE INDEX ix_credentials_person ON credentials (person_id)",
)


async def _m002_access_control(conn: AsyncConnection) -> None:
    # Explicit DDL (not create_all): this migration must create the same tables forever.
    for statement in _M002_ACCESS_CONTROL:
        await conn.execute(text(statement))


_CREDENTIAL_TABLES = ("people", "credentials", "person_access", "person_levels")
_M003_CREDENTIAL_CHANGES = (
    """CREATE TABLE credential_changes (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    )""",
    "INSERT INTO credential_changes (id, generation) VALUES (1, 0)",
    *(
        f"""CREATE TRIGGER {table}_{op.lower()}_counts AFTER {op} ON {table}
        BEGIN UPDATE credential_changes SET generation = generation + 1; END"""
        for table in _CREDENTIAL_TABLES
        for op in ("INSERT", "UPDATE", "DELETE")
    ),
)


async def _m003_credential_changes(conn: AsyncConnection) -> None:
    # A generation counter bumped by triggers, so the in-memory credential index (edge.access.credential_index)
    # notices changes made by any writer, including another process (`outpost-edge add-person`).
    for statement in _M003_CREDENTIAL_CHANGES:
        await conn.execute(text(statement))


_M005_DOOR_ALARMS = (
    """CREATE TABLE door_alarms (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        door_id VARCHAR(64) NOT NULL,
        alarm VARCHAR(32) NOT NULL,
        detail TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        raised_at DATETIME NOT NULL,
        last_raised_at DATETIME NOT NULL,
        occurrences INTEGER NOT NULL,
        cleared_at DATETIME,
        acknowledged_by VARCHAR(64),
        acknowledged_at DATETIME,
        acknowledged_comment TEXT,
        closed_at DATETIME
    )""",
    "CREATE UNIQUE INDEX ux_door_alarms_listed ON door_alarms (door_id, alarm) WHERE closed_at IS NULL",
)


async def _m005_door_alarms(conn: AsyncConnection) -> None:
    # The latching alarm list (edge.access.alarms). Depends on no other migration's tables, so it applies the
    # same whether or not migration 4 precedes it.
    for statement in _M005_DOOR_ALARMS:
        await conn.execute(text(statement))


_M004_PIN_LOCKOUT_DURESS = (
    "ALTER TABLE person_access ADD COLUMN duress_pin_hash VARCHAR(160)",
    """CREATE TABLE pin_lockouts (
        credential VARCHAR(128) NOT NULL PRIMARY KEY,
        person_id INTEGER,
        person VARCHAR(120),
        failures JSON NOT NULL,
        door_id VARCHAR(64),
        locked_since DATETIME,
        locked_until DATETIME
    )""",
)


async def _m004_pin_lockout_duress(conn: AsyncConnection) -> None:
    # Wrong-PIN counts and lockouts per credential (edge.access.pin_lockout) and a duress PIN hash per person.
    for statement in _M004_PIN_LOCKOUT_DURESS:
        await conn.execute(text(statement))


_M006_OUTBOX_QUARANTINE = (
    """CREATE TABLE outbox_quarantine (
        seq INTEGER NOT NULL PRIMARY KEY REFERENCES outbox (seq) ON DELETE CASCADE,
        quarantined_at DATETIME NOT NULL,
        error VARCHAR(64) NOT NULL,
        detail TEXT NOT NULL
    )""",
)


async def _m006_outbox_quarantine(conn: AsyncConnection) -> None:
    # Outbox records set aside so that one bad record never blocks the records behind it (edge.storage.journal).
    for statement in _M006_OUTBOX_QUARANTINE:
        await conn.execute(text(statement))


async def _m007_console_csrf_not_stored(conn: AsyncConnection) -> None:
    # The console's CSRF token is now derived from the session token (edge.web.auth), so the copy kept in
    # clear goes. Open sessions stay valid; a page loaded before the upgrade needs a reload to post again.
    await conn.execute(text("ALTER TABLE console_sessions DROP COLUMN csrf_token"))


_M008_SITE_CONFIG = (
    """CREATE TABLE site_config (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        issued_at DATETIME NOT NULL,
        applied_at DATETIME NOT NULL,
        policy JSON NOT NULL
    )""",
    """CREATE TABLE person_local_edits (
        person_id INTEGER NOT NULL PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
        edited_at DATETIME NOT NULL,
        base_version INTEGER NOT NULL,
        revoked JSON NOT NULL,
        suspended BOOLEAN NOT NULL
    )""",
)


async def _m008_site_config(conn: AsyncConnection) -> None:
    # The policy part of the last applied cloud configuration document (edge.access.site_config), and the
    # people edited on the box since, for reconciliation with the next document.
    for statement in _M008_SITE_CONFIG:
        await conn.execute(text(statement))


_M009_MEDIA_UPLOADS = (
    """CREATE TABLE media_uploads (
        media_id VARCHAR(32) NOT NULL PRIMARY KEY,
        path TEXT NOT NULL,
        kind VARCHAR(16) NOT NULL,
        content_type VARCHAR(32) NOT NULL,
        size INTEGER NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        after_seq INTEGER NOT NULL,
        sent_offset INTEGER NOT NULL,
        registered_at DATETIME NOT NULL,
        finished_at DATETIME,
        error TEXT
    )""",
    "CREATE INDEX ix_media_uploads_waiting ON media_uploads (finished_at, after_seq)",
)


async def _m009_media_uploads(conn: AsyncConnection) -> None:
    # Snapshots and clips queued for the cloud, with the offset the cloud holds (edge.storage.media).
    for statement in _M009_MEDIA_UPLOADS:
        await conn.execute(text(statement))


async def _m010_outbox_priority_index(conn: AsyncConnection) -> None:
    # The waiting records sent before telemetry (edge.storage.journal.Outbox.pending): without it, finding them
    # behind a telemetry backlog walks the whole backlog for every batch.
    await conn.execute(
        text("CREATE INDEX ix_outbox_waiting_first ON outbox (seq) WHERE acked = 0 AND kind <> 'telemetry'")
    )


async def _m012_home_assistant_discovery(conn: AsyncConnection) -> None:
    # Discovery configs published to Home Assistant (edge.homeassistant.store): an entity that leaves the config
    # gets an empty retained config, and keeps a tombstone row (payload NULL) so it is sent again each time Home
    # Assistant comes online.
    await conn.execute(
        text(
            """CREATE TABLE ha_discovery (
                topic TEXT NOT NULL PRIMARY KEY,
                payload JSON
            )"""
        )
    )


async def _m013_console_roles(conn: AsyncConnection) -> None:
    # Console roles (edge.web.roles): users from before roles existed keep what they could do, which was everything.
    await conn.execute(text("ALTER TABLE console_users ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'admin'"))


async def _m014_local_policy(conn: AsyncConnection) -> None:
    # Door settings, schedules and holiday calendars edited in the console (edge.access.policy_edits).
    await conn.execute(
        text(
            """CREATE TABLE local_policy (
                id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
                policy JSON NOT NULL,
                updated_at DATETIME NOT NULL,
                updated_by VARCHAR(64) NOT NULL
            )"""
        )
    )


# The console's event timeline (edge.storage.event_query): keyset pages in time order per kind, door, camera or
# person, and the door frame of each record found by the record's id. The JSON paths are literals: SQLite matches
# an expression index only against the same expression text.
_M015_EVENT_TIMELINE = (
    "CREATE INDEX ix_events_kind_time ON events (kind, occurred_at)",
    *(
        f"CREATE INDEX ix_events_{name}_time ON events (json_extract(payload, '$.{key}'), occurred_at) "
        f"WHERE json_extract(payload, '$.{key}') IS NOT NULL"
        for name, key in (("door", "door_id"), ("camera", "camera_id"), ("person", "person_id"))
    ),
    "CREATE INDEX ix_events_of_record ON events (json_extract(payload, '$.of_journal_id')) "
    "WHERE json_extract(payload, '$.of_journal_id') IS NOT NULL",
)


async def _m015_event_timeline(conn: AsyncConnection) -> None:
    # Indexes only: no row changes, so an older release still reads and writes the table.
    for statement in _M015_EVENT_TIMELINE:
        await conn.execute(text(statement))


async def _m016_device_event_ids(conn: AsyncConnection) -> None:
    # The device event ids journaled per device (edge.storage.device_events): a restarted edge remembers the last
    # events it handled, so a device's re-send is only confirmed again. Index only: older releases still work.
    await conn.execute(
        text(
            "CREATE INDEX ix_events_device_event ON events (source, id) "
            "WHERE json_extract(payload, '$.event_id') IS NOT NULL"
        )
    )


# Append-only: a released migration is never edited; add a new numbered one.
MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial schema", _m001_initial),
    (2, "access control: person access, levels, snapshot version, lockdowns, anti-passback", _m002_access_control),
    (3, "credential change counter for the in-memory credential index", _m003_credential_changes),
    (4, "wrong-PIN lockouts and duress PIN", _m004_pin_lockout_duress),
    (5, "door alarm list with operator acknowledgement", _m005_door_alarms),
    (6, "outbox quarantine", _m006_outbox_quarantine),
    (7, "console CSRF tokens no longer stored", _m007_console_csrf_not_stored),
    (8, "cloud-managed site configuration and local edits", _m008_site_config),
    (9, "media uploads queued for the cloud", _m009_media_uploads),
    (10, "outbox index of the records sent before telemetry", _m010_outbox_priority_index),
    (11, "rules, their run history, durable timers and the notification queue", m011_rules),
    (12, "Home Assistant discovery configs published", _m012_home_assistant_discovery),
    (13, "console user roles", _m013_console_roles),
    (14, "door settings, schedules and holidays edited in the console", _m014_local_policy),
    (15, "event timeline indexes: kind, door, camera, person and door frames", _m015_event_timeline),
    (16, "index of the device event ids journaled per device", _m016_device_event_ids),
]


def inserted_id(result: CursorResult[Any]) -> int:
    """Return the integer primary key of the row a single-row INSERT just added."""
    key = result.inserted_primary_key
    if key is None:  # only for statements that are not a single-row INSERT
        raise RuntimeError("the statement inserted no row")
    return int(key[0])


def _set_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: the audit trail and the outbox must survive a power cut once acknowledged.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


_SIDE_FILES = ("-wal", "-shm", "-journal")


def _make_private(path: Path) -> None:
    """Create the database file mode 0600 if missing; narrow an existing one and its WAL/SHM files to 0600.

    It holds session digests, PIN hashes and the audit trail. SQLite gives the -wal and -shm files it creates
    the main file's mode, so a private main file keeps them private too.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
                log.info("narrowed %s to mode 0600", file)
        except FileNotFoundError:
            pass


class MigrationError(Exception):
    """A schema migration failed at start; the database was left (or put back) as it was before."""


class Database:
    """Owns the async engine of the edge database and the journal's dedicated writer connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(path)
        # hide_parameters: an error logged with its statement must not print the values (hashes, PINs).
        self.engine: AsyncEngine = create_async_engine(f"sqlite+aiosqlite:///{path}", hide_parameters=True)
        event.listen(self.engine.sync_engine, "connect", _set_pragmas)
        # The journal's hot path (edge.storage.journal): same pragmas (WAL, FULL), one thread hop per write.
        self.writer = SqliteWriter(path, lambda conn: _set_pragmas(conn, None))

    async def _applied(self) -> set[int]:
        async with self.engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT)")
            )
            return set((await conn.execute(text("SELECT version FROM schema_version"))).scalars())

    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version.

        On a database that has a schema already, a consistent copy is taken first (<data dir>/backups/). The
        migrations run in one transaction: if one fails, nothing of them stays, the database is checked to be
        the copy is put back (in case a migration committed part of its work) and MigrationError names it.
        """
        applied = await self._applied()
        pending = [m for m in sorted(MIGRATIONS, key=lambda m: m[0]) if m[0] not in applied]
        if not pending:
            return max(applied, default=0)
        before = max(applied, default=0)
        copy: Path | None = None
        if applied:
            copy = pre_upgrade_path(self.path, before)
            await asyncio.to_thread(online_copy, self.path, copy)
            log.info("backed up the edge database (schema %d) to %s before migrating", before, copy)
        version, name = pending[0][:2]
        try:
            async with self.engine.begin() as conn:
                # A no-op write opens the transaction now: pysqlite begins one only at the first DML, so the DDL
                # of a pending migration would otherwise autocommit and a failure would leave half its tables.
                await conn.execute(text("DELETE FROM schema_version WHERE version > :v"), {"v": before})
                # By number, and every one not yet recorded: one that lands below an applied number (numbers
                # taken by concurrent branches, e.g. 5 merged before 4) is still applied.
                for version, name, apply in pending:
                    log.info("applying edge migration %d: %s", version, name)
                    await apply(conn)
                    await conn.execute(
                        text("INSERT INTO schema_version (version, name) VALUES (:v, :n)"),
                        {"v": version, "n": name},
                    )
        except Exception as err:  # any failure of a migration: keep (or restore) the old database, say where
            raise await self._after_failed_migration(version, name, applied, copy, err) from err
        return max(before, pending[-1][0])

    async def _after_failed_migration(
        self, version: int, name: str, applied: set[int], copy: Path | None, err: BaseException
    ) -> MigrationError:
        """Put the copy taken before the upgrade back (the failed transaction rolled back, but a migration may
        have committed part of its work); return the error to raise."""
        if copy is not None:
            # Nothing else writes between the copy and here: the edge is starting, and it is the one writer.
            await self.engine.dispose()
            await asyncio.to_thread(put_back, copy, self.path)
            log.error("edge database migration %d failed: put back the copy taken before it, %s", version, copy)
        kept = f"; a copy taken before the upgrade is {copy}" if copy is not None else ""
        return MigrationError(
            f"edge database migration {version} ({name}) failed: {type(err).__name__}: {err}. "
            f"{self.path} is left at schema version {max(applied, default=0)}, as before the upgrade{kept}. "
            "Run the previous Outpost version on it, or report this error; do not delete the copy"
        )

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown)."""
        async with self.engine.begin() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        """Commit queued journal writes, then close every connection."""
        await self.writer.close()
        await self.engine.dispose()
