"""Consistent copies of the live edge database (SQLite's online backup API) and putting one back.

Used before schema migrations at start (edge.storage.database) and by `outpost-provision backup`/`restore`. The
backup API copies a database other connections are writing to as one consistent snapshot (it restarts when a
writer changes a page it already copied), so the edge need not stop.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SIDE_FILES = ("-wal", "-shm", "-journal")
PRE_UPGRADE_DIR = "backups"
BACKUP_STAMP = "last-backup.json"
"""Written in the data dir by `outpost-provision backup`; the console and `doctor` report it."""


class BackupError(Exception):
    """A copy could not be taken or put back; the message names the file."""


def online_copy(source: Path, destination: Path) -> None:
    """Copy the live database `source` to `destination` (mode 0600, a standalone file, checked), atomically."""
    if not source.is_file():
        raise BackupError(f"{source}: no database to back up")
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    part.unlink(missing_ok=True)
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst, pages=1024)
                # The copy inherits WAL mode; a rollback-journal file is one self-contained file.
                dst.execute("PRAGMA journal_mode=DELETE")
                (result,) = dst.execute("PRAGMA quick_check").fetchone()
                if result != "ok":
                    raise BackupError(f"the copy of {source} fails SQLite's quick_check: {result}")
            finally:
                dst.close()
        finally:
            src.close()
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(part, destination)
    except sqlite3.Error as err:
        raise BackupError(f"cannot copy {source} to {destination}: {err}") from err
    finally:
        part.unlink(missing_ok=True)


def put_back(copy: Path, database: Path) -> None:
    """Replace `database` (not open by anyone) by `copy`, mode 0600, dropping its stale WAL/SHM files."""
    part = database.with_name(database.name + ".restore")
    part.unlink(missing_ok=True)
    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with copy.open("rb") as src, part.open("wb") as dst:
            while chunk := src.read(1024 * 1024):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        for suffix in SIDE_FILES:
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        os.replace(part, database)
    finally:
        part.unlink(missing_ok=True)


def pre_upgrade_path(database: Path, schema_version: int, now: datetime | None = None) -> Path:
    """Where the copy taken before migrating from `schema_version` goes: <data dir>/backups/."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return database.parent / PRE_UPGRADE_DIR / f"{database.stem}-schema{schema_version}-{stamp}.db"


@dataclass(frozen=True)
class LastBackup:
    """The last `outpost-provision backup` of this box."""

    at: datetime
    archive: Path


def last_backup(data_dir: Path) -> LastBackup | None:
    """The last backup recorded in `data_dir`, or None when none was taken (or its record is unreadable)."""
    try:
        recorded = json.loads((data_dir / BACKUP_STAMP).read_text())
        return LastBackup(datetime.fromisoformat(recorded["at"]), Path(recorded["archive"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
