"""Write what a batch's new records add to the analytics tables, inside the ingest transaction.

`record_batch` is the one call ingest makes (cloud/ingest.py). Only records the batch newly stored are passed,
so a replayed batch adds nothing; a late batch (even 30 days late) adds its deltas to the buckets of its own
time, once. Each table gets one bulk statement per batch (PostgreSQL: the rows as one JSON parameter,
`cloud.analytics.pg_json`; SQLite: an executemany): facts are inserted, rollups and state are upserted with
``INSERT ... ON CONFLICT DO UPDATE`` adding deltas or keeping the newest/first value, so the result does not
depend on the order batches arrive in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cloud.analytics.buckets import buckets_for
from cloud.analytics.derive import Derived, derive
from cloud.analytics.pg_json import JsonUpserts, Upsert
from cloud.db.analytics_models import (
    AlarmState,
    DeviceState,
    FactAccess,
    FactAlarm,
    FactDetection,
    FactDeviceStatus,
    FactSensor,
    OccupancyNow,
    RollupDaily,
    RollupHourly,
    SiteIngestDaily,
    SiteWatermark,
)
from cloud.db.models import Site
from sync.wire import SyncStatus

FACT_TABLES: dict[str, Table] = {
    "access": cast(Table, FactAccess.__table__),
    "detection": cast(Table, FactDetection.__table__),
    "alarm": cast(Table, FactAlarm.__table__),
    "device_status": cast(Table, FactDeviceStatus.__table__),
    "sensor": cast(Table, FactSensor.__table__),
}
HOURLY = cast(Table, RollupHourly.__table__)
DAILY = cast(Table, RollupDaily.__table__)
ALARMS = cast(Table, AlarmState.__table__)
DEVICES = cast(Table, DeviceState.__table__)
OCCUPANCY = cast(Table, OccupancyNow.__table__)
WATERMARK = cast(Table, SiteWatermark.__table__)
INGEST_DAILY = cast(Table, SiteIngestDaily.__table__)
# HQ's own acknowledgement of an alarm (the portal's), never written by ingest.
HQ_COLUMNS = frozenset({"hq_acknowledged_at", "hq_acknowledged_by"})
# Every table analytics derives from records (the rebuild empties and refills them; not the watermark).
DERIVED_TABLES: tuple[Table, ...] = (*FACT_TABLES.values(), HOURLY, DAILY, ALARMS, DEVICES, OCCUPANCY)

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect!r}")


def _pk(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _greater(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """The larger of two nullable values, ignoring NULL (SQLite's max() and PostgreSQL's GREATEST differ)."""
    return case((a.is_(None), b), (b.is_(None), a), (b > a, b), else_=a)


def _saturating_sum(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """a + b held within a 64-bit integer: a hostile site's readings cannot make the upsert (and its batch) fail.

    Constants are SQL literals, not parameters: the PostgreSQL path sends the compiled ON CONFLICT clause as text.
    """
    zero: ColumnElement[int] = literal_column("0")
    top: ColumnElement[int] = literal_column(str(INT64_MAX))
    bottom: ColumnElement[int] = literal_column(str(INT64_MIN))
    return case((and_(b > zero, a > top - b), top), (and_(b < zero, a < bottom - b), bottom), else_=a + b)


def _lesser(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a.is_(None), b), (b.is_(None), a), (b < a, b), else_=a)


class Statements:
    """The bulk statements of one dialect, built once (their compiled form is cached by SQLAlchemy)."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self.facts = {name: _insert(dialect, t).on_conflict_do_nothing() for name, t in FACT_TABLES.items()}
        self.hourly = self._rollup(dialect, HOURLY)
        self.daily = self._rollup(dialect, DAILY)
        self.alarms = self._alarms(dialect)
        self.devices = self._devices(dialect)
        self.occupancy = self._newest(dialect, OCCUPANCY, "as_of", "count")
        self.watermark = self._newest(dialect, WATERMARK, "reported_at", "complete_up_to")
        ins = _insert(dialect, INGEST_DAILY)
        self.ingest_daily = ins.on_conflict_do_update(
            index_elements=_pk(INGEST_DAILY), set_={"records": INGEST_DAILY.c.records + ins.excluded.records}
        )
        # What `apply` writes, by name: each statement and its table.
        self.derived: dict[str, tuple[Any, Table]] = {name: (self.facts[name], t) for name, t in FACT_TABLES.items()}
        self.derived |= {
            "hourly": (self.hourly, HOURLY),
            "daily": (self.daily, DAILY),
            "alarms": (self.alarms, ALARMS),
            "devices": (self.devices, DEVICES),
            "occupancy": (self.occupancy, OCCUPANCY),
        }
        self._json: JsonUpserts | None = None

    async def write(self, conn: AsyncConnection, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Write derived `rows` by name (see `derived`): on PostgreSQL as one statement with each table's rows as
        one JSON parameter (`cloud.analytics.pg_json`), elsewhere as an executemany per table with rows."""
        if not self.postgres:
            for name, (statement, _table) in self.derived.items():
                if rows.get(name):
                    await conn.execute(statement, rows[name])
            return
        if self._json is None:
            self._json = JsonUpserts(
                {
                    name: Upsert(statement, table, [c.name for c in table.columns if c.name not in HQ_COLUMNS])
                    for name, (statement, table) in self.derived.items()
                }
            )
        await self._json.execute(conn, rows)

    @staticmethod
    def _rollup(dialect: str, table: Table) -> Any:
        ins = _insert(dialect, table)
        new = ins.excluded
        return ins.on_conflict_do_update(
            index_elements=_pk(table),
            set_={
                "n": table.c.n + new.n,
                "total_milli": _saturating_sum(table.c.total_milli, new.total_milli),
                "peak": _greater(table.c.peak, new.peak),
                "low": _lesser(table.c.low, new.low),
            },
        )

    @staticmethod
    def _alarms(dialect: str) -> Any:
        ins = _insert(dialect, ALARMS)
        new, old = ins.excluded, ALARMS.c
        first_ack = and_(
            new.acknowledged_at.is_not(None),
            or_(old.acknowledged_at.is_(None), new.acknowledged_at < old.acknowledged_at),
        )
        return ins.on_conflict_do_update(
            index_elements=_pk(ALARMS),
            set_={
                "raised_at": _lesser(old.raised_at, new.raised_at),
                "last_raised_at": _greater(old.last_raised_at, new.last_raised_at),
                "acknowledged_at": _lesser(old.acknowledged_at, new.acknowledged_at),
                "acknowledged_by": case((first_ack, new.acknowledged_by), else_=old.acknowledged_by),
                "cleared_at": _greater(old.cleared_at, new.cleared_at),
            },
        )

    @staticmethod
    def _devices(dialect: str) -> Any:
        ins = _insert(dialect, DEVICES)
        new, old = ins.excluded, DEVICES.c
        newer_status = and_(new.status_at.is_not(None), or_(old.status_at.is_(None), new.status_at > old.status_at))
        newer_battery = and_(
            new.battery_at.is_not(None), or_(old.battery_at.is_(None), new.battery_at > old.battery_at)
        )
        return ins.on_conflict_do_update(
            index_elements=_pk(DEVICES),
            set_={
                "online": case((newer_status, new.online), else_=old.online),
                "device_kind": case((newer_status, new.device_kind), else_=old.device_kind),
                "firmware": case((newer_status, new.firmware), else_=old.firmware),
                "status_at": case((newer_status, new.status_at), else_=old.status_at),
                "last_seen_at": _greater(old.last_seen_at, new.last_seen_at),
                "battery": case((newer_battery, new.battery), else_=old.battery),
                "battery_at": case((newer_battery, new.battery_at), else_=old.battery_at),
            },
        )

    @staticmethod
    def _newest(dialect: str, table: Table, time_col: str, value_col: str) -> Any:
        """Upsert keeping the row with the later time (ties: the larger value, so order never matters)."""
        ins = _insert(dialect, table)
        new, old = ins.excluded, table.c
        newer = or_(
            new[time_col] > old[time_col], and_(new[time_col] == old[time_col], new[value_col] > old[value_col])
        )
        columns = [c.name for c in table.columns if not c.primary_key]
        return ins.on_conflict_do_update(
            index_elements=_pk(table), set_={name: new[name] for name in columns}, where=newer
        )


_STATEMENTS: dict[str, Statements] = {}
_SITE_ZONE = select(Site.tenant_id, Site.timezone).where(Site.id == bindparam("site_id"))


class SiteZone(NamedTuple):
    """The site's tenant and time zone (its buckets), as ingest already read them."""

    tenant_id: str
    timezone: str


def statements(dialect: str) -> Statements:
    """The cached bulk statements of `dialect`."""
    found = _STATEMENTS.get(dialect)
    if found is None:
        found = _STATEMENTS[dialect] = Statements(dialect)
    return found


def _rollup_rows(derived: Derived, by_day: bool) -> list[dict[str, Any]]:
    table = derived.daily if by_day else derived.hourly
    time_key = "day" if by_day else "bucket"
    ids = {"tenant_id": derived.tenant_id, "site_id": derived.site_id}
    return [
        {**ids, "scope": scope, "scope_id": scope_id, "metric": metric, time_key: when}
        | {"n": agg[0], "total_milli": agg[1], "peak": agg[2], "low": agg[3]}
        for (scope, scope_id, metric, when), agg in table.items()
    ]


async def apply(session: AsyncSession, dialect: str, derived: Derived) -> None:
    """Write the derived facts, rollup deltas and state changes."""
    sql = statements(dialect)
    # Core, not ORM, execution: the ORM copies a statement per call and recomputes its cache key (profiled:
    # a third of the analytics time for these CASE-heavy upserts).
    conn = await session.connection()
    ids = {"tenant_id": derived.tenant_id, "site_id": derived.site_id}
    rows = dict(derived.facts)
    if derived.hourly:
        rows["hourly"] = _rollup_rows(derived, by_day=False)
        rows["daily"] = _rollup_rows(derived, by_day=True)
    rows["alarms"] = [{**ids, **row} for row in derived.alarms.values()]
    rows["devices"] = [{**ids, **row} for row in derived.devices.values()]
    rows["occupancy"] = [{**ids, **row} for row in derived.occupancy.values()]
    await sql.write(conn, rows)


def complete_up_to(status: SyncStatus | None, sent_at: datetime, batch_size: int) -> datetime | None:
    """Up to when the site's records are all in once this batch is stored, by the edge's reported backlog.

    Nothing waits behind the batch: everything up to when it was sent. Otherwise: up to the oldest record
    the batch carries (the edge sends oldest first). No status (an old edge): unknown, None.
    """
    if status is None:
        return None
    if status.backlog <= batch_size or status.oldest_pending_at is None:
        return sent_at
    return status.oldest_pending_at


async def record_batch(
    session: AsyncSession,
    dialect: str,
    site_id: str,
    new_records: Sequence[dict[str, Any]],
    *,
    received_at: datetime,
    sent_at: datetime,
    status: SyncStatus | None,
    batch_size: int,
    site: SiteZone | None = None,
) -> None:
    """Derive and write analytics for a batch's newly stored records, and advance the site's watermark.

    `site` saves the lookup of the site's tenant and time zone when the caller has them.
    """
    conn = await session.connection()
    if site is None:
        found = (await conn.execute(_SITE_ZONE, {"site_id": site_id})).first()
        if found is None:
            return
        site = SiteZone(found.tenant_id, found.timezone)
    sql = statements(dialect)
    mark = complete_up_to(status, sent_at, batch_size)
    if mark is not None:
        row = {"tenant_id": site.tenant_id, "site_id": site_id, "complete_up_to": mark, "reported_at": sent_at}
        await conn.execute(sql.watermark, [row])
    if not new_records:
        return
    derived = derive(site.tenant_id, site_id, buckets_for(site.timezone), new_records)
    await apply(session, dialect, derived)
    count = {"tenant_id": site.tenant_id, "site_id": site_id, "day": received_at.date(), "records": derived.records}
    await conn.execute(sql.ingest_daily, [count])
