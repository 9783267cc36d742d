"""The billing period close for many sites: one month of daily usage, drafted and finalised in one close run,
against the baseline of reading the same usage rows once (the least any close has to do).

    python -m bench.billing_close [--smoke] [--sites N] [--tenants N] [--database-url URL]

Real database (a SQLite file by default, WAL, synchronous=FULL; or PostgreSQL with --database-url), real close
code (`cloud.billing.close.close_due`, grace 0 so every invoice is drafted and finalised in the run). Each site has
30 daily usage rows with inventory and one synced batch per day; a third of the sites run over their camera
allowance and some over their events allowance, so overage lines are computed too.
Last stdout line: JSON with `sites`, `tenants`, `close_s`, `baseline_read_s`, `close_vs_read`, `invoices`,
`lines`, `usage_rows` and `machine`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench._common import emit, progress
from cloud.billing import catalogue, subscriptions
from cloud.billing.close import close_due
from cloud.billing.models import Invoice, InvoiceLine, UsageBatch, UsageDay
from cloud.db.engine import create_engine, session_factory
from cloud.db.migrate import upgrade
from cloud.db.models import Site, Tenant, new_slug

START = date(2027, 1, 1)
END = date(2027, 2, 1)  # one 31-day month
CHUNK = 5000


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1m": os.getloadavg()[0]}


async def _insert(db: async_sessionmaker[AsyncSession], table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.begin() as session:
            await session.execute(table.insert(), rows[start : start + CHUNK])


async def _populate(db: async_sessionmaker[AsyncSession], sites: int, tenants: int) -> int:
    async with db.begin() as session:
        plans = await catalogue.publish_defaults(session)
    standard = plans[1]
    tenant_ids = [new_slug() for _ in range(tenants)]
    await _insert(
        db, cast(Table, Tenant.__table__), [{"id": t, "name": f"Tenant {n}"} for n, t in enumerate(tenant_ids)]
    )
    enrolled = datetime(2026, 12, 1, tzinfo=UTC)
    site_rows = [
        {
            "id": new_slug(),
            "tenant_id": tenant_ids[n % tenants],
            "name": f"Site {n:05d}",
            "timezone": "UTC",
            "secret": secrets.token_hex(16),
            "enrolled_at": enrolled,
            "hostname": "",
            "last_seq": 0,
        }
        for n in range(sites)
    ]
    await _insert(db, cast(Table, Site.__table__), site_rows)
    async with db.begin() as session:
        for tenant_id in tenant_ids:
            # Standard allows 50 sites; the bench's tenants may have more, so subscribe before the limit matters.
            plan = standard if sites // tenants <= (standard.site_limit or sites) else plans[2]
            await subscriptions.start(session, tenant_id, plan, "month", START, tax_rate_bp=2000)
    days = [START + timedelta(days=d) for d in range(31)]
    received = datetime(2027, 1, 15, tzinfo=UTC)
    usage: list[dict[str, Any]] = []
    batches: list[dict[str, Any]] = []
    for n, site in enumerate(site_rows):
        cameras = 10 if n % 3 == 0 else 4
        events = 40_000 if n % 7 == 0 else 3_000
        for d, day in enumerate(days):
            common = {"site_id": site["id"], "tenant_id": site["tenant_id"], "day": day}
            usage.append({**common, "cameras": cameras, "doors": 3, "devices": 12, "events": events})
            usage[-1].update(snapshot_bytes=1 << 20, updated_at=received)
            batches.append(
                {**common, "batch_nonce": secrets.token_hex(8), "first_seq": d * events + 1}
                | {"last_seq": (d + 1) * events, "events": events, "received_at": received}
            )
        if len(usage) >= 50_000:
            await _insert(db, cast(Table, UsageDay.__table__), usage)
            await _insert(db, cast(Table, UsageBatch.__table__), batches)
            usage, batches = [], []
            progress(f"usage of {n + 1} sites stored")
    await _insert(db, cast(Table, UsageDay.__table__), usage)
    await _insert(db, cast(Table, UsageBatch.__table__), batches)
    return sites * len(days)


async def _baseline(db: async_sessionmaker[AsyncSession]) -> float:
    """Read every usage row and batch of the month once, per tenant, as the close does at the least."""
    t0 = time.perf_counter()
    async with db() as session:
        tenants = list(await session.scalars(select(Tenant.id)))
        for tenant_id in tenants:
            list(
                await session.execute(
                    select(UsageDay.site_id, UsageDay.day, UsageDay.cameras, UsageDay.doors).where(
                        UsageDay.tenant_id == tenant_id, UsageDay.day >= START, UsageDay.day < END
                    )
                )
            )
            list(
                await session.execute(
                    select(UsageBatch.id, UsageBatch.site_id, UsageBatch.day, UsageBatch.events).where(
                        UsageBatch.tenant_id == tenant_id, UsageBatch.day >= START, UsageBatch.day < END
                    )
                )
            )
    return time.perf_counter() - t0


async def run(sites: int, tenants: int, url: str | None) -> dict[str, Any]:
    """Populate, measure the baseline read, then the close; return the result."""
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        database_url = url or f"sqlite+aiosqlite:///{Path(tmp) / 'cloud.db'}"
        await upgrade(database_url)
        engine = create_engine(database_url)
        db = session_factory(engine)
        try:
            progress(f"populating {sites} sites of {tenants} tenants")
            usage_rows = await _populate(db, sites, tenants)
            baseline_s = await _baseline(db)
            progress(f"baseline read {baseline_s:.2f} s; closing the month")
            t0 = time.perf_counter()
            result = await close_due(db, END, grace_days=0)
            close_s = time.perf_counter() - t0
            async with db() as session:
                invoices = int(await session.scalar(select(func.count()).select_from(Invoice)) or 0)
                finalized = int(await session.scalar(select(func.count()).where(Invoice.status == "finalized")) or 0)
                lines = int(await session.scalar(select(func.count()).select_from(InvoiceLine)) or 0)
        finally:
            await engine.dispose()
    if not (result.drafted == invoices == finalized == tenants):
        raise SystemExit(f"close made {invoices} invoices ({finalized} finalised) for {tenants} tenants: {result}")
    return {
        "sites": sites,
        "tenants": tenants,
        "usage_rows": usage_rows,
        "invoices": invoices,
        "lines": lines,
        "close_s": round(close_s, 3),
        "baseline_read_s": round(baseline_s, 3),
        "close_vs_read": round(close_s / baseline_s, 2) if baseline_s else None,
        "database": "postgresql" if url and url.startswith("postgresql") else "sqlite",
        "machine": _machine(),
    }


def main() -> None:
    """Parse arguments, run, print the JSON result as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (correctness only)")
    parser.add_argument("--sites", type=int, default=10_000, help="sites in total (default %(default)s)")
    parser.add_argument("--tenants", type=int, default=200, help="tenants sharing them (default %(default)s)")
    parser.add_argument("--database-url", default=None, help="e.g. postgresql+asyncpg://postgres@127.0.0.1/db")
    args = parser.parse_args()
    sites, tenants = (60, 3) if args.smoke else (args.sites, args.tenants)
    emit(asyncio.run(run(sites, tenants, args.database_url)))


if __name__ == "__main__":
    main()
