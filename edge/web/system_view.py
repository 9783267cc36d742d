"""The console's System page (and `GET /api/v1/system`): disk use, retention, version, backups, sync at a glance.

Everything here is read from the box as it is now: the file system under `storage.data_dir` (walked in a thread,
never on the event loop), the retention and outbox budgets of the config, the backup stamp `outpost-provision
backup` leaves, and the copies taken before schema upgrades.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from edge import keys
from edge.storage.backup import PRE_UPGRADE_DIR, last_backup
from edge.web.auth import CSRF_FIELD, SESSION
from edge.web.site_time import in_zone
from edge.web.sync_view import sync_status
from observability.version import software_version

PRE_UPGRADE_SHOWN = 5


@dataclass(frozen=True, slots=True)
class DiskUse:
    """What the data folder's file system holds and what the box's own data takes of it, in bytes."""

    total: int
    used: int
    free: int
    database: int
    snapshots: int
    clips: int


def _tree_bytes(root: Path) -> int:
    """Bytes of the regular files under `root` (0 if it does not exist); blocking."""
    total = 0
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # a folder removed meanwhile (retention) or unreadable: counted as empty
    return total


def disk_use(data_dir: Path, database: Path, snapshots: Path, clips: Path) -> DiskUse:
    """Measure the data folder's file system and the database, snapshots and clips in it (blocking)."""
    usage = shutil.disk_usage(data_dir)
    db_bytes = sum(p.stat().st_size for p in (database, *database.parent.glob(database.name + "-*")) if p.is_file())
    return DiskUse(usage.total, usage.used, usage.free, db_bytes, _tree_bytes(snapshots), _tree_bytes(clips))


def _pre_upgrade_copies(data_dir: Path) -> list[dict[str, Any]]:
    folder = data_dir / PRE_UPGRADE_DIR
    try:
        files = sorted((p for p in folder.iterdir() if p.suffix == ".db"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    return [
        {"name": p.name, "bytes": p.stat().st_size, "at": datetime.fromtimestamp(p.stat().st_mtime, UTC)}
        for p in reversed(files[-PRE_UPGRADE_SHOWN:])
    ]


async def system_facts(app: web.Application) -> dict[str, Any]:
    """The System page's facts (datetimes as aware datetimes; `system_json` turns them into text)."""
    config = app[keys.CONFIG]
    storage = config.storage

    def read_disk() -> tuple[DiskUse, Any, list[dict[str, Any]]]:
        use = disk_use(storage.data_dir, storage.database_path, storage.snapshot_dir, storage.clip_dir)
        return use, last_backup(storage.data_dir), _pre_upgrade_copies(storage.data_dir)

    use, backup, copies = await asyncio.to_thread(read_disk)
    retention = config.vision.retention
    return {
        "software_version": software_version(),
        "timezone": config.site.timezone,
        "now": datetime.now(UTC),
        "data_dir": str(storage.data_dir),
        "disk": use,
        "retention": {
            "max_age_days": retention.max_age_days,
            "max_bytes": retention.max_bytes,
            "outbox_budget_mb": storage.outbox_budget_mb,
        },
        "last_backup": backup,
        "pre_upgrade_copies": copies,
        "sync": await sync_status(app),
    }


def _json(facts: dict[str, Any]) -> dict[str, Any]:
    use: DiskUse = facts["disk"]
    backup = facts["last_backup"]
    return {
        **facts,
        "now": facts["now"].isoformat(),
        "disk": {name: getattr(use, name) for name in DiskUse.__slots__},
        "last_backup": None if backup is None else {"at": backup.at.isoformat(), "archive": backup.archive.name},
        "pre_upgrade_copies": [{**c, "at": c["at"].isoformat()} for c in facts["pre_upgrade_copies"]],
    }


async def get_system(request: web.Request) -> web.Response:
    """Disk use, retention, software version, backups and sync state of the box."""
    return web.json_response(_json(await system_facts(request.app)))


@aiohttp_jinja2.template("system.html")
async def system_page(request: web.Request) -> dict[str, Any]:
    """The System page."""
    facts = await system_facts(request.app)
    return {
        "site": request.app[keys.CONFIG].site,
        "session": request[SESSION],
        CSRF_FIELD: request[SESSION].csrf_token,
        "local_now": in_zone(facts["now"], facts["timezone"]),
        **facts,
    }


def human_bytes(value: int | float | None) -> str:
    """1536 -> '1.5 KiB' (a Jinja filter)."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def add_routes(app: web.Application) -> None:
    """Register the System page and its API."""
    app.router.add_get("/system", system_page)
    app.router.add_get("/api/v1/system", get_system)
