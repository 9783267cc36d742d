"""`outpost-provision restore`: put a `backup` archive onto a box (a new one, or this one after a wipe).

Everything is checked before anything is written: the archive reads, its manifest validates, every file's size
and sha256 match, the config names the manifest's site, the database passes SQLite's quick_check at the schema
the manifest states, and this software knows that schema. The restored box keeps the site identity (site id,
sync secret, PIN key) and its events; its paths are this box's (`--data-dir`, or the data dir of the config
already at `--config`, e.g. the one `install` wrote).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import sqlite3
import tarfile
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from edge.config import ConfigError, load_config
from edge.storage.backup import put_back
from edge.storage.database import MIGRATIONS
from provisioning.backup import MANIFEST, ArchivedFile, Manifest, Progress, schema_version

DEFAULT_DATA_DIR = Path("/var/lib/outpost")
UNENROLLED = "unenrolled"
SEQ_GAP = 1_000_000_000
"""Outbox sequence numbers skipped at restore (more records than the old box can write after its last backup)."""


class RestoreError(Exception):
    """The archive cannot be restored here; the message says why and what to do."""


@dataclass(frozen=True)
class Restored:
    """What restore wrote."""

    manifest: Manifest
    config_path: Path
    data_dir: Path
    events: int


def verify_archive(archive: Path, scratch: Path) -> Manifest:
    """Unpack `archive` into `scratch` (mode 0700) and check it; raise RestoreError naming what is wrong."""
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = _unpack(tar, archive, scratch)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise RestoreError(f"{archive} is not a readable Outpost backup archive ({err})") from err
    latest = max(m[0] for m in MIGRATIONS)
    if manifest.schema_version > latest:
        raise RestoreError(
            f"{archive} was made by Outpost {manifest.software_version} with edge database schema "
            f"{manifest.schema_version}; this software knows schema {latest} at most: install that version first"
        )
    database = scratch / _required(manifest, "database").name
    config = scratch / _required(manifest, "config").name
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as err:
        check = str(err)
    if check != "ok":
        raise RestoreError(f"{archive}: the database in it fails SQLite's quick_check ({check})")
    if schema_version(database) != manifest.schema_version:
        raise RestoreError(f"{archive}: the database's schema version does not match its manifest")
    try:
        site = tomllib.loads(config.read_text()).get("site", {}).get("id", UNENROLLED)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise RestoreError(f"{archive}: the config in it is not valid TOML ({err})") from err
    if site != manifest.site_id:
        raise RestoreError(f"{archive}: its config is for site {site!r} but its manifest says {manifest.site_id!r}")
    return manifest


def _required(manifest: Manifest, role: str) -> ArchivedFile:
    found = next((f for f in manifest.files if f.role == role), None)
    if found is None:
        raise RestoreError(f"the archive has no {role} (every backup has one): not a complete Outpost backup")
    return found


def _unpack(tar: tarfile.TarFile, archive: Path, scratch: Path) -> Manifest:
    members = {m.name: m for m in tar.getmembers()}
    if MANIFEST not in members:
        raise RestoreError(f"{archive} has no {MANIFEST}: not an Outpost backup archive")
    manifest_file = tar.extractfile(members[MANIFEST])
    if manifest_file is None:
        raise RestoreError(f"{archive}: {MANIFEST} is not a regular file")
    try:
        manifest = Manifest.model_validate_json(manifest_file.read())
    except ValidationError as err:
        raise RestoreError(f"{archive}: {MANIFEST} is not a valid manifest ({err.error_count()} problems)") from err
    listed = {f.name: f for f in manifest.files}
    extra = set(members) - set(listed) - {MANIFEST}
    if extra:
        raise RestoreError(f"{archive} holds files its manifest does not list: {', '.join(sorted(extra))}")
    (scratch / "files").mkdir(mode=0o700, exist_ok=True)
    for name, described in listed.items():
        member = members.get(name)
        source = tar.extractfile(member) if member is not None and member.isfile() else None
        if source is None:
            raise RestoreError(f"{archive} lacks {name} ({described.role}) that its manifest lists")
        target = scratch / name  # the name's pattern (files/<safe name>) keeps it inside scratch
        digest, size = hashlib.sha256(), 0
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != described.size or digest.hexdigest() != described.sha256:
            raise RestoreError(
                f"{archive} is corrupt: {name} ({described.role}) does not match the checksum in its manifest"
            )
    return manifest


def _existing(config_path: Path) -> dict[str, Any]:
    if not config_path.exists():
        return {}
    try:
        return tomllib.loads(config_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise RestoreError(f"{config_path} is not valid TOML ({err}); move it away first") from err


def restore_backup(
    archive: Path,
    config_path: Path,
    scratch: Path,
    data_dir: Path | None = None,
    force: bool = False,
    owner: str | None = None,
    progress: Progress = lambda _m: None,
) -> Restored:
    """Check `archive`, then write its database, config and secrets for this box; return what was written."""
    progress(f"checking {archive}")
    manifest = verify_archive(archive, scratch)
    existing = _existing(config_path)
    target_data = data_dir or Path(existing.get("storage", {}).get("data_dir") or DEFAULT_DATA_DIR)
    here = existing.get("site", {}).get("id", UNENROLLED)
    if here not in (UNENROLLED, manifest.site_id) and not force:
        raise RestoreError(
            f"{config_path} is enrolled as site {here!r}; the archive is site {manifest.site_id!r} "
            f"({manifest.site_name}). Restoring would replace this box's identity: pass --force if that is meant"
        )
    database = target_data / "edge.db"
    if database.exists() and database.stat().st_size > 0 and not force:
        raise RestoreError(
            f"{database} already exists: stop the edge (systemctl stop outpost-edge) and pass --force to replace "
            "it with the archive's database"
        )
    account = _account(owner)
    files = {f.role: scratch / f.name for f in manifest.files}
    modes = {f.role: f.mode & 0o700 for f in manifest.files}  # never wider than the owner
    config: dict[str, Any] = tomllib.loads(files["config"].read_text())
    secrets_dir = config_path.parent / "secrets"
    _make_dir(target_data, account)
    progress(f"restoring the database to {database}")
    _skip_sequence_numbers(files["database"])
    put_back(files["database"], database)
    _chown(database, account)
    config.setdefault("storage", {})["data_dir"] = str(target_data)
    placed: dict[str, Path] = {
        "console_key": target_data / "console_key",
        "metrics_token": target_data / "metrics-token",
        "pin_key": target_data / "access-pin.key",
    }
    if "sync_secret" in files:
        placed["sync_secret"] = secrets_dir / "sync-secret"
        config.setdefault("cloud", {})["secret_file"] = str(placed["sync_secret"])
    if config.get("access", {}).get("pin_key_file"):
        placed["pin_key"] = secrets_dir / "access-pin.key"
        config["access"]["pin_key_file"] = str(placed["pin_key"])
    # Console users are in the database; a first-admin password file of the old box would not exist here.
    config.get("web", {}).pop("initial_admin_password_file", None)
    for role, path in placed.items():
        if role in files:
            _make_dir(path.parent, account)
            progress(f"restoring {role.replace('_', ' ')} to {path}")
            _install(files[role], path, modes[role] or 0o600, account)
    progress(f"writing {config_path}")
    _make_dir(config_path.parent, None)
    part = scratch / "edge.toml"
    part.write_text(tomli_w.dumps(config))
    _install(part, config_path, 0o600, account)
    try:
        load_config(config_path, environ={})
    except ConfigError as err:
        raise RestoreError(f"the restored {config_path} does not validate: {err}") from err
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    return Restored(manifest=manifest, config_path=config_path, data_dir=target_data, events=int(events))


def _skip_sequence_numbers(database: Path) -> None:
    """Start the restored outbox's sequence numbers SEQ_GAP past the archive's.

    The cloud keys records by (site, seq) and drops a seq it has as a duplicate: records the old box wrote after
    the backup already took the seqs that follow, so new records must not reuse them.
    """
    with sqlite3.connect(database) as conn:
        updated = conn.execute("UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'outbox'", (SEQ_GAP,))
        if updated.rowcount == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (SEQ_GAP,))
    conn.close()


def _account(owner: str | None) -> pwd.struct_passwd | None:
    if owner is None:
        return None
    try:
        return pwd.getpwnam(owner)
    except KeyError as err:
        raise RestoreError(f"no user {owner!r} to own the restored files; create it (install) or pass --owner") from err


def _chown(path: Path, account: pwd.struct_passwd | None) -> None:
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


def _make_dir(path: Path, account: pwd.struct_passwd | None) -> None:
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        _chown(path, account)


def _install(source: Path, destination: Path, mode: int, account: pwd.struct_passwd | None) -> None:
    """Copy `source` to `destination` atomically, with `mode` from the first byte and the owner set."""
    part = destination.with_name(destination.name + ".restore")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(part, mode)
    _chown(part, account)
    os.replace(part, destination)
