"""`outpost-cloud`: serve the cloud aggregator and administer tenants."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.admin import AdminError, bootstrap_tenant, create_enrollment_code, revoke_tenant_site
from cloud.analytics.partitions import DEFAULT_RETENTION_DAYS, run_maintenance
from cloud.analytics.rebuild import rebuild as rebuild_analytics
from cloud.app import run_cloud
from cloud.billing.close import close_due
from cloud.config import CloudConfig, ConfigError, load_config
from cloud.db.engine import create_engine, session_factory
from cloud.db.migrate import upgrade
from cloud.db.tenant_context import system_context
from cloud.enrollment import DEFAULT_TTL
from observability.logs import configure as configure_logging
from sync.timezones import check_timezone

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outpost-cloud", description="Outpost multi-tenant cloud aggregator.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server", description="Run the cloud HTTP server.")
    serve.add_argument("--config", required=True, type=Path, help="TOML config file")
    serve.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="log lines as text or JSON (default text)"
    )
    serve.add_argument(
        "--check-config",
        action="store_true",
        help="validate the config, print problems and exit (non-zero if bad)",
    )

    boot = commands.add_parser(
        "bootstrap",
        help="create a tenant and its admin (idempotent)",
        description="Create the tenant and its admin user if missing; with --site-name also issue an "
        "enrollment code. Prints one JSON line: tenant_id (and enrollment_code, expires_at).",
    )
    boot.add_argument("--config", required=True, type=Path, help="TOML config file")
    boot.add_argument("--tenant", required=True, help="tenant name")
    boot.add_argument("--admin-email", required=True, help="e-mail address of the tenant admin")
    boot.add_argument(
        "--admin-password-file", required=True, type=Path, help="file holding the admin password (first line)"
    )
    boot.add_argument("--site-name", help="also issue an enrollment code for a site with this name")
    _code_options(boot)

    code = commands.add_parser(
        "create-code",
        help="issue an enrollment code for a new site",
        description="Issue a one-time enrollment code and print it.",
    )
    code.add_argument("--config", required=True, type=Path, help="TOML config file")
    code.add_argument("--tenant-id", required=True, help="tenant that will own the site")
    code.add_argument("--site-name", required=True, help="name of the site the code creates")
    _code_options(code)

    revoke = commands.add_parser(
        "revoke-site",
        help="revoke a site: it can no longer sync",
        description="Revoke a site of a tenant: its sync batches are refused from now on and its secret is "
        "replaced; its records stay. Final: to bring the box back, issue a new code (create-code) and run "
        "`outpost-provision enroll --force --code CODE` on the box, which enrolls it as a new site. "
        "Prints one JSON line: site_id, name, revoked_at, revoked_by.",
    )
    revoke.add_argument("--config", required=True, type=Path, help="TOML config file")
    revoke.add_argument("--tenant-id", required=True, help="tenant that owns the site")
    revoke.add_argument("--site-id", required=True, help="site to revoke")
    revoke.add_argument(
        "--by",
        default=_default_actor(),
        help="who revokes, recorded with the revocation (default: %(default)s)",
    )
    _analytics_parser(commands)
    close = commands.add_parser(
        "billing-close",
        help="run the billing period close now",
        description="Run the billing period close by hand, as the scheduled job does: draft an invoice for every "
        "ended period, refresh drafts, finalise those past the grace days. Safe to repeat and to run beside the "
        "server (one invoice per subscription and period is a database key). Prints one JSON line.",
    )
    close.add_argument("--config", required=True, type=Path, help="TOML config file")
    close.add_argument("--today", type=_day, default=None, help="close as of this UTC day, YYYY-MM-DD (default: today)")
    close.add_argument("--grace-days", type=int, default=None, help="override [billing] grace_days")
    return parser


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from err


def _analytics_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analytics = commands.add_parser(
        "analytics", help="maintain the analytics tables", description="Maintain the analytics derived on ingest."
    )
    actions = analytics.add_subparsers(dest="analytics_command", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild",
        help="recompute facts and rollups from the raw records",
        description="Recompute every analytics fact, rollup and state table of one tenant (or all) from the raw "
        "records, exactly as ingest derives them. Ingest of the tenant waits meanwhile on PostgreSQL. Prints one "
        "JSON line: tenants, sites, records.",
    )
    rebuild.add_argument("--config", required=True, type=Path, help="TOML config file")
    rebuild.add_argument("--tenant-id", help="only this tenant (default: every tenant)")
    maintain = actions.add_parser(
        "maintain",
        help="create partitions ahead, apply retention",
        description="On PostgreSQL create the coming months' partitions of the analytics tables, give months found "
        "in a default partition their own, drop partitions past every tenant's retention; on every backend delete "
        "each tenant's records, facts and hourly rollups older than its retention (its plan's, else the default). "
        "The cloud also runs this every 6 hours. Prints one JSON line: created, dropped, deleted.",
    )
    maintain.add_argument("--config", required=True, type=Path, help="TOML config file")
    maintain.add_argument(
        "--default-retention-days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help="retention of tenants without a plan (default: %(default)s)",
    )


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or password database
        return "cli"


def _code_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ttl-hours",
        type=int,
        default=int(DEFAULT_TTL.total_seconds() // 3600),
        help="hours until the code expires (default: %(default)s)",
    )
    parser.add_argument(
        "--timezone", default="UTC", type=_timezone, help="IANA time zone of the site (default: %(default)s)"
    )


def _timezone(value: str) -> str:
    try:
        return check_timezone(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _load(path: Path) -> CloudConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        print(f"outpost-cloud: invalid config {path}:\n{err}", file=sys.stderr)
        return None


async def _with_db(config: CloudConfig, action: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    await upgrade(config.database_url)
    engine = create_engine(config.database_url)
    try:
        # The operator's commands act across tenants (row-level security: cloud.db.tenant_context).
        with system_context():
            return await action(session_factory(engine))
    finally:
        await engine.dispose()


async def _serve(config: CloudConfig) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await run_cloud(config)
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("stopped")


def _read_password(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0] if lines else ""


def _cmd_serve(args: argparse.Namespace, config: CloudConfig) -> int:
    if args.check_config:
        print(f"{args.config}: OK")
        return EXIT_OK
    configure_logging(logging.INFO, args.log_format)
    # aiosqlite logs every statement with its parameters (site secrets among them) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    asyncio.run(_serve(config))
    return EXIT_OK


def _cmd_bootstrap(args: argparse.Namespace, config: CloudConfig) -> int:
    password = _read_password(args.admin_password_file)
    result = asyncio.run(
        _with_db(
            config,
            lambda db: bootstrap_tenant(
                db,
                args.tenant,
                args.admin_email,
                password,
                site_name=args.site_name,
                ttl=timedelta(hours=args.ttl_hours),
                timezone=args.timezone,
            ),
        )
    )
    line: dict[str, str] = {"tenant_id": result.tenant_id}
    if result.enrollment is not None:
        line["enrollment_code"] = result.enrollment.code
        line["expires_at"] = result.enrollment.expires_at.isoformat()
    print(json.dumps(line))
    return EXIT_OK


def _cmd_create_code(args: argparse.Namespace, config: CloudConfig) -> int:
    issued = asyncio.run(
        _with_db(
            config,
            lambda db: create_enrollment_code(
                db,
                args.tenant_id,
                args.site_name,
                ttl=timedelta(hours=args.ttl_hours),
                timezone=args.timezone,
            ),
        )
    )
    print(issued.code)
    return EXIT_OK


def _cmd_revoke_site(args: argparse.Namespace, config: CloudConfig) -> int:
    site = asyncio.run(_with_db(config, lambda db: revoke_tenant_site(db, args.tenant_id, args.site_id, args.by)))
    assert site.revoked_at is not None
    line = {
        "site_id": site.id,
        "name": site.name,
        "revoked_at": site.revoked_at.isoformat(),
        "revoked_by": site.revoked_by,
    }
    print(json.dumps(line))
    return EXIT_OK


def _cmd_analytics(args: argparse.Namespace, config: CloudConfig) -> int:
    if args.analytics_command == "maintain":
        done = asyncio.run(
            _with_db(config, lambda db: run_maintenance(db, default_retention_days=args.default_retention_days))
        )
        print(json.dumps({"created": done.created, "dropped": done.dropped, "deleted": done.deleted}))
        return EXIT_OK
    result = asyncio.run(_with_db(config, lambda db: rebuild_analytics(db, args.tenant_id)))
    print(json.dumps({"tenants": result.tenants, "sites": result.sites, "records": result.records}))
    return EXIT_OK


def _cmd_billing_close(args: argparse.Namespace, config: CloudConfig) -> int:
    today = args.today or datetime.now(UTC).date()
    grace = config.billing.grace_days if args.grace_days is None else args.grace_days
    result = asyncio.run(_with_db(config, lambda db: close_due(db, today, grace)))
    print(json.dumps({"today": today.isoformat(), **dataclasses.asdict(result)}))
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, CloudConfig], int]] = {
    "serve": _cmd_serve,
    "bootstrap": _cmd_bootstrap,
    "create-code": _cmd_create_code,
    "revoke-site": _cmd_revoke_site,
    "billing-close": _cmd_billing_close,
    "analytics": _cmd_analytics,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `outpost-cloud` command line; return the exit status."""
    args = _parser().parse_args(argv)
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    try:
        return _COMMANDS[args.command](args, config)
    except (AdminError, OSError) as err:
        print(f"outpost-cloud {args.command}: {err}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
