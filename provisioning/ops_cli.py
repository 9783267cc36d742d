"""The operator's subcommands of `outpost-provision`: install, backup, restore, rotate-secret.

`provisioning.cli` registers them (`register`) and hands their parsed arguments to `run`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_CONFIG = Path("/etc/outpost/edge.toml")
DEFAULT_BACKUP_DIR = Path("/var/backups/outpost")
COMMANDS = ("install", "backup", "restore", "rotate-secret")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator's subcommands to `outpost-provision`'s parser."""
    install = sub.add_parser(
        "install",
        help="lay out a box: virtualenv, outpost user, directories and modes, config skeleton, systemd unit",
        description="Lay out an Outpost box: the virtualenv (/opt/outpost/venv), the outpost service user "
        "(sysusers.d), config and state directories with their owners and modes (secrets 0700, files 0600), "
        "an unenrolled config skeleton and the systemd unit. Needs root, unless --root DIR lays the box out "
        "under DIR (every written path DIR-prefixed; the user only recorded). Safe to run again.",
    )
    install.add_argument("--root", type=Path, default=Path("/"), help="install under this folder (default /)")
    install.add_argument(
        "--reuse-venv",
        action="store_true",
        help="link <root>/opt/outpost/venv to the environment running this command instead of creating one",
    )
    install.add_argument("--source", help="what pip installs into a new virtualenv (default: this checkout)")
    install.add_argument(
        "--units", type=Path, metavar="DIR", help="folder with outpost-edge.service (default: this checkout's systemd/)"
    )
    backup = sub.add_parser(
        "backup",
        help="archive the database (online), config and secrets into one tar.gz (mode 0600)",
        description="Archive this box's database (a consistent copy while the edge runs, SQLite backup API), "
        "its config and secrets, with a manifest of versions and checksums, into one tar.gz (mode 0600). "
        "Snapshots and clips are not included.",
    )
    backup.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"edge config ({DEFAULT_CONFIG})")
    where = backup.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, metavar="FILE", help="archive to write")
    where.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_BACKUP_DIR,
        metavar="DIR",
        help=f"folder for outpost-<site>-<time>.tar.gz (default {DEFAULT_BACKUP_DIR}, created mode 0700)",
    )
    backup.add_argument("--keep", type=int, default=0, metavar="N", help="then delete all but the newest N archives")

    restore = sub.add_parser(
        "restore",
        help="restore a backup archive onto this box (keeps the site identity and events)",
        description="Check a backup archive (manifest, checksums, database integrity, versions) and write its "
        "database, config and secrets for this box. Stop the edge first. The site id, sync secret and PIN key "
        "are the archive's; the paths are this box's.",
    )
    restore.add_argument("archive", type=Path, help="archive written by `outpost-provision backup`")
    restore.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"edge config to write ({DEFAULT_CONFIG})")
    restore.add_argument(
        "--data-dir",
        type=Path,
        help="where the database goes (default: storage.data_dir of the config already at --config, "
        "else /var/lib/outpost)",
    )
    restore.add_argument(
        "--force", action="store_true", help="replace an existing database, or a config enrolled as another site"
    )
    restore.add_argument(
        "--owner",
        default=argparse.SUPPRESS,
        help="user that owns the restored files (default as root: 'outpost', the service account, if it exists)",
    )

    rotate = sub.add_parser(
        "rotate-secret",
        help="replace the site's sync secret, coordinated with the cloud (the old one works for a grace window)",
        description="Generate a new sync secret, have the cloud install it (authenticated by the current one, "
        "which keeps working for the grace window), then write it to the secret file (0600, atomically). A "
        "running edge whose config names cloud.secret_file picks it up at its next request.",
    )
    rotate.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"edge config ({DEFAULT_CONFIG})")
    rotate.add_argument(
        "--grace",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="how long the cloud still accepts the old secret (default 3600, at most 7 days)",
    )


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


def _fail(message: str) -> int:
    print(f"outpost-provision: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    """Run one of this module's subcommands."""
    if args.command == "install":
        return _install(args)
    if args.command == "backup":
        return _backup(args)
    if args.command == "rotate-secret":
        return _rotate(args)
    return _restore(args)


def _install(args: argparse.Namespace) -> int:
    from provisioning.install import UNIT_TEMPLATES, InstallError, install

    print(f"Installing an Outpost box under {args.root} ...", flush=True)
    try:
        report = install(
            args.root,
            reuse_venv=args.reuse_venv,
            source=args.source,
            units_dir=args.units or UNIT_TEMPLATES,
            progress=_say,
        )
    except InstallError as err:
        return _fail(f"install: {err}")
    except OSError as err:
        return _fail(f"install: {err}")
    layout = report.layout
    print(
        f"Done: {len(report.changed)} changed, {len(report.unchanged)} unchanged. Next: "
        f"outpost-provision enroll --cloud URL --code CODE --config {layout.config}, then "
        "systemctl enable --now outpost-edge"
    )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from provisioning.rotate import RotationError, rotate_secret
    from sync.rotation import MAX_GRACE_S, MIN_GRACE_S

    if not MIN_GRACE_S <= args.grace <= MAX_GRACE_S:
        return _fail(f"--grace must be from {MIN_GRACE_S} to {MAX_GRACE_S} seconds")
    try:
        config = load_config(args.config)
    except ConfigError as err:
        return _fail(str(err))
    print(f"Rotating the sync secret of site {config.site.id} ...", flush=True)
    try:
        rotated = rotate_secret(args.config, config, grace_s=args.grace, progress=_say)
    except RotationError as err:
        return _fail(f"rotation failed: {err}")
    except OSError as err:
        return _fail(f"rotation failed: {err}")
    until = f"{rotated.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC"
    print(f"Rotated. The new secret is in {rotated.secret_file}; the cloud refuses the old one after {until}.")
    if rotated.config_rewritten:
        print(
            f"The running edge still holds the old secret: restart it before {until} (systemctl restart outpost-edge)."
        )
    return 0


def _backup(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.storage.backup import BackupError
    from provisioning.backup import create_backup, default_archive_name, prune

    try:
        config = load_config(args.config)
    except ConfigError as err:
        return _fail(str(err))
    output: Path = args.output or args.output_dir / default_archive_name(config.site.id, datetime.now(UTC))
    if args.output is None:
        args.output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    print(f"Backing up site {config.site.id} to {output} ...", flush=True)
    try:
        manifest = create_backup(args.config, config, output, progress=_say)
    except (BackupError, OSError) as err:
        return _fail(f"backup failed: {err}")
    print(
        f"Backup written: {output} (mode 0600; {len(manifest.files)} files, schema {manifest.schema_version}, "
        f"Outpost {manifest.software_version}). Keep it somewhere safe: it holds the site's secrets."
    )
    if args.keep > 0:
        for old in prune(output.parent, config.site.id, args.keep):
            _say(f"deleted old backup {old}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from provisioning.enroll import default_owner
    from provisioning.restore import RestoreError, restore_backup

    owner = getattr(args, "owner", None) or default_owner()
    print(f"Restoring {args.archive} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="outpost-restore-") as scratch:
        try:
            restored = restore_backup(
                args.archive,
                args.config,
                Path(scratch) / "unpacked",
                data_dir=args.data_dir,
                force=args.force,
                owner=owner,
                progress=_say,
            )
        except RestoreError as err:
            return _fail(f"restore refused: {err}")
        except OSError as err:
            return _fail(f"restore failed: {err}")
    manifest = restored.manifest
    print(
        f"Restored site {manifest.site_id} ({manifest.site_name}) from {manifest.created_at:%Y-%m-%d %H:%M} UTC: "
        f"{restored.events} events, database in {restored.data_dir}, config {restored.config_path}. "
        "Start the edge: systemctl start outpost-edge"
    )
    return 0
