"""`outpost-provision backup`: the box's database, config and secrets in one archive (tar.gz, mode 0600).

The database is copied while the edge runs with SQLite's backup API (a consistent snapshot,
`edge.storage.backup.online_copy`). The archive holds `manifest.json` (format, software and schema versions, the
site, and a sha256, size, mode and role per file) and the files under `files/`. Snapshots and clips are not in it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.config import EdgeConfig
from edge.storage.backup import BACKUP_STAMP, BackupError, online_copy
from observability.scrape import TOKEN_FILE_NAME
from observability.version import software_version

FORMAT: Literal[1] = 1
MANIFEST = "manifest.json"
STAMP_FILE = BACKUP_STAMP

Role = Literal["database", "config", "sync_secret", "pin_key", "console_key", "metrics_token"]
Progress = Callable[[str], None]


class ArchivedFile(BaseModel):
    """One file of the archive."""

    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="What the file is to the box; decides where restore puts it")
    name: str = Field(pattern=r"^files/[A-Za-z0-9._-]{1,128}$", description="Member name in the archive")
    original_path: str = Field(max_length=4096, description="Where it was on the backed-up box")
    size: int = Field(ge=0, description="Bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Checksum of the content")
    mode: int = Field(ge=0, le=0o777, description="Permission bits it had (secrets: 0600)")


class Manifest(BaseModel):
    """`manifest.json`: what the archive holds and what made it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = Field(description="Archive layout version")
    created_at: datetime = Field(description="When the backup was taken (UTC)")
    software_version: str = Field(max_length=64, description="Outpost version that took it")
    schema_version: int = Field(ge=0, description="Edge database schema version of the copy")
    site_id: str = Field(max_length=64, description="The site's id (its identity towards the cloud)")
    site_name: str = Field(max_length=200, description="The site's name")
    hostname: str = Field(max_length=255, description="The box it was taken on")
    files: list[ArchivedFile] = Field(description="Every file of the archive except this manifest")

    def file(self, role: Role) -> ArchivedFile | None:
        """The archived file with `role`, if any."""
        return next((f for f in self.files if f.role == role), None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def secret_files(config_path: Path, config: EdgeConfig) -> list[tuple[Role, Path]]:
    """The config and the secret files the box has (missing optional ones left out)."""
    data = config.storage.data_dir
    found: list[tuple[Role, Path]] = [("config", config_path)]
    candidates: list[tuple[Role, Path | None]] = [
        ("sync_secret", config.cloud.secret_file),
        ("pin_key", config.access.pin_key_file or data / "access-pin.key"),
        ("console_key", config.storage.console_key_path),
        ("metrics_token", data / TOKEN_FILE_NAME),
    ]
    for role, path in candidates:
        if path is not None and path.is_file():
            found.append((role, path))
    return found


def schema_version(database: Path) -> int:
    """The schema version of an edge database file (0 if it has none)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
        except sqlite3.OperationalError:
            return 0


def default_archive_name(site_id: str, now: datetime) -> str:
    """`outpost-<site>-<UTC time>.tar.gz`."""
    return f"outpost-{site_id}-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def create_backup(
    config_path: Path, config: EdgeConfig, output: Path, progress: Progress = lambda _m: None
) -> Manifest:
    """Write the archive to `output` (mode 0600 from the first byte, atomically) and return its manifest."""
    database = config.storage.database_path
    if not database.is_file():
        raise BackupError(f"{database}: no edge database yet (has the edge ever started with this config?)")
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="outpost-backup-") as scratch:
        copy = Path(scratch) / "edge.db"
        progress(f"copying the database {database} (online, SQLite backup API)")
        online_copy(database, copy)
        members: list[tuple[ArchivedFile, Path]] = [
            (_describe("database", "files/edge.db", database, copy, 0o600), copy)
        ]
        for role, path in secret_files(config_path, config):
            progress(f"adding {role.replace('_', ' ')} {path}")
            members.append((_describe(role, f"files/{role}", path, path, stat.S_IMODE(path.stat().st_mode)), path))
        manifest = Manifest(
            format=FORMAT,
            created_at=now,
            software_version=software_version(),
            schema_version=schema_version(copy),
            site_id=config.site.id,
            site_name=config.site.name,
            hostname=socket.gethostname(),
            files=[m for m, _ in members],
        )
        progress(f"writing {output}")
        _write_archive(output, manifest, members)
    _write_stamp(config, output, now)
    return manifest


def _describe(role: Role, name: str, original: Path, content: Path, mode: int) -> ArchivedFile:
    return ArchivedFile(
        role=role,
        name=name,
        original_path=str(original),
        size=content.stat().st_size,
        sha256=_sha256(content),
        mode=mode,
    )


def _write_archive(output: Path, manifest: Manifest, members: list[tuple[ArchivedFile, Path]]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    part = output.with_name(output.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            body = manifest.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(manifest.created_at.timestamp())
            tar.addfile(info, io.BytesIO(body))
            for described, path in members:
                info = tarfile.TarInfo(described.name)
                info.size, info.mode = described.size, described.mode
                info.mtime = int(manifest.created_at.timestamp())
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(part, output)
    finally:
        part.unlink(missing_ok=True)


def _write_stamp(config: EdgeConfig, output: Path, at: datetime) -> None:
    stamp = config.storage.data_dir / STAMP_FILE
    tmp = stamp.with_name(stamp.name + ".tmp")
    with tmp.open("w") as handle:
        json.dump({"at": at.isoformat(), "archive": str(output)}, handle)
    os.replace(tmp, stamp)


def prune(directory: Path, site_id: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives of the site in `directory`; return the deleted ones."""
    archives = sorted(directory.glob(f"outpost-{site_id}-*.tar.gz"))
    doomed = archives[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return doomed
