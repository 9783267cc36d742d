"""The period close as a scheduled job of the cloud process (APScheduler), plus the default catalogue at start.

Every worker schedules the job; the close itself takes a database lock (`close.close_lock`) and the database's
unique key makes a second close harmless, so workers need no coordination of their own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.appkeys import CONFIG, DB
from cloud.billing.catalogue import publish_defaults
from cloud.billing.close import CloseResult, close_due
from cloud.db.tenant_context import system_context

log = logging.getLogger(__name__)

CLOSE_JOB_ID = "billing-close"


def today_utc() -> datetime:
    """The current time in UTC (the close works in UTC days)."""
    return datetime.now(UTC)


async def run_close(db: async_sessionmaker[AsyncSession], grace_days: int) -> CloseResult | None:
    """Run one close for today; a failure is logged and retried at the next run."""
    try:
        # The close acts for every tenant (row-level security: cloud.db.tenant_context).
        with system_context():
            result = await close_due(db, today_utc().date(), grace_days)
    except SQLAlchemyError:  # supervision point: the next run retries; nothing half-done survives a rollback
        log.exception("billing: the period close failed; it runs again at the next interval")
        return None
    if result.ran and (result.drafted or result.finalized):
        log.info("billing: close drafted %d and finalised %d invoice(s)", result.drafted, result.finalized)
    return result


async def publish_default_plans(db: async_sessionmaker[AsyncSession]) -> None:
    """Publish the built-in catalogue; workers starting together may race, and the loser has nothing to do."""
    try:
        async with db.begin() as session:
            await publish_defaults(session)
    except IntegrityError:  # another worker published them first (unique code + version)
        log.info("billing: the default plans were published by another worker")


async def billing_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx stage: publish the default plans, then schedule the close (unless close_interval_s is 0)."""
    settings = app[CONFIG].billing
    db = app[DB]
    await publish_default_plans(db)
    if settings.close_interval_s == 0:
        yield
        return
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        run_close,
        IntervalTrigger(seconds=settings.close_interval_s, timezone=UTC),
        args=[db, settings.grace_days],
        id=CLOSE_JOB_ID,
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    yield
    scheduler.shutdown(wait=False)
