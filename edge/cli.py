"""`outpost-edge`: run the appliance, check its config, manage console users and people."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from pathlib import Path

from edge.config import ConfigError, EdgeConfig, load_config
from observability.logs import configure as configure_logging

DEFAULT_CONFIG = Path("/etc/outpost/edge.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost-edge",
        description="Run the Outpost edge appliance (MQTT broker, door access, cameras, console, cloud sync).",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config file (and that the files it relies on, such as the detector model, load) and exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    log_help = "log lines as text or JSON (default text)"
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help=log_help)
    # --config and -v are accepted after the subcommand too (`outpost-edge add-user ana --config F`); SUPPRESS
    # keeps a subcommand's unset option from overwriting the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    common.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS, help=log_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the appliance (the default)", parents=[common])
    user = sub.add_parser("add-user", help="create a console user", parents=[common])
    user.add_argument("username")
    user.add_argument("--password-file", type=Path, help="read the password from this file (else prompt)")
    user.add_argument(
        "--role",
        choices=("admin", "guard", "viewer"),
        default="admin",
        help="admin: everything; guard: doors, alarms, lockdown; viewer: looks only (default admin)",
    )
    person = sub.add_parser("add-person", help="add a person with badge numbers", parents=[common])
    person.add_argument("name")
    person.add_argument("--badge", action="append", default=[], help="credential number (repeatable)")
    hasher = sub.add_parser(
        "hash-password", help="print a hash for a device's or account's password_hash", parents=[common]
    )
    hasher.add_argument("--password-file", type=Path, help="read the password from this file (else prompt)")
    hasher.add_argument(
        "--format",
        choices=["argon2", "mosquitto"],
        default="argon2",
        help="argon2 (default) or mosquitto ($7$ PBKDF2-SHA512, as mosquitto_passwd writes; needed with "
        "mqtt.mode = 'external', also accepted by the embedded broker)",
    )
    return parser


def _read_password(path: Path | None) -> str:
    return path.read_text().strip() if path else getpass.getpass("Password: ")


async def _with_db(config: EdgeConfig, args: argparse.Namespace) -> None:
    from edge.access.credentials import CredentialStore
    from edge.storage.database import Database
    from edge.web.auth import ConsoleAuth

    db = Database(config.storage.database_path)
    await db.migrate()
    try:
        if args.command == "add-user":
            await ConsoleAuth(db, config.web.session_hours).create_user(
                args.username, _read_password(args.password_file), args.role
            )
            print(f"console user {args.username!r} created with role {args.role}")
        elif args.command == "add-person":
            person_id = await CredentialStore(db).add_person(args.name, args.badge)
            print(f"person {args.name!r} added with id {person_id}")
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `outpost-edge`."""
    args = _parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, args.log_format)
    if args.command == "hash-password":
        from edge.broker.passwords import hash_password

        print(hash_password(_read_password(args.password_file), args.format))
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(f"outpost-edge: {err}", file=sys.stderr)
        return 2
    if args.check_config:
        from edge.preflight import preflight

        problems = preflight(config)
        if problems:
            print(f"outpost-edge: {args.config}: cannot run as configured", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 2
        print(
            f"{args.config}: OK ({len(config.devices)} devices, {len(config.doors)} doors, "
            f"{len(config.cameras)} cameras)"
        )
        return 0
    if args.command in ("add-user", "add-person"):
        try:
            if args.command == "add-person":
                from edge.web.forms import validate_person_name

                validate_person_name(args.name)  # the console's rule, checked before the database is opened
            asyncio.run(_with_db(config, args))
        except ValueError as err:
            print(f"outpost-edge: {err}", file=sys.stderr)
            return 2
        return 0
    from edge.app import run_edge
    from edge.storage.backup import BackupError
    from edge.storage.database import MigrationError

    try:
        asyncio.run(run_edge(config, args.config))
    except ConfigError as err:
        print(f"outpost-edge: {err}", file=sys.stderr)
        return 2
    except (MigrationError, BackupError) as err:
        print(f"outpost-edge: refusing to start: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
