"""Analytics tables: typed facts, incremental rollups and current state, all derived from `records` on ingest.

Every table carries ``tenant_id`` first in its primary key, so the schema can be distributed by tenant
(Citus-style) and row-level security keyed on the tenant covers it. Facts are keyed like the record they come
from (site_id, seq), plus `occurred_at`: on PostgreSQL the facts and the hourly rollups are range-partitioned by
month (`cloud.analytics.partitions`), and a partitioned table's key must hold its partition column.
Rollups are plain tables (not database-maintained aggregates) upserted per batch with
deltas; sums are integers (values in thousandths) so a rollup equals a recompute exactly, whatever the order.
See docs/ANALYTICS.md.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base, UTCDateTime


class FactAccess(Base):
    """An access decision at a door (audit record ``type: access_decision``)."""

    __tablename__ = "fact_access"
    __table_args__ = (Index("ix_fact_access_tenant_id_site_id_occurred_at", "tenant_id", "site_id", "occurred_at"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    door_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credential: Mapped[str | None] = mapped_column(String(128), nullable=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(64))


class FactDetection(Base):
    """A camera count or a track event (appeared, left with its dwell, zone entered/left, loitering, line crossed)."""

    __tablename__ = "fact_detection"
    __table_args__ = (Index("ix_fact_detection_tenant_id_site_id_occurred_at", "tenant_id", "site_id", "occurred_at"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    event: Mapped[str] = mapped_column(String(16))
    camera_id: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    category: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dwell_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class FactAlarm(Base):
    """A door alarm raised, acknowledged or cleared at the site."""

    __tablename__ = "fact_alarm"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    alarm_id: Mapped[int] = mapped_column(BigInteger)
    door_id: Mapped[str] = mapped_column(String(64))
    alarm: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class FactDeviceStatus(Base):
    """A device going online or offline."""

    __tablename__ = "fact_device_status"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    device_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    online: Mapped[bool] = mapped_column(Boolean)
    firmware: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FactSensor(Base):
    """One reading of a device's telemetry record (one row per value)."""

    __tablename__ = "fact_sensor"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class RollupHourly(Base):
    """A metric of one site's door/zone/camera/device/... over one hour of the site's local time.

    `bucket` is the UTC instant the local hour starts (unambiguous across DST). `n` counts samples or events,
    `total_milli` sums values in thousandths (exact), `peak`/`low` are the largest and smallest value.
    """

    __tablename__ = "rollup_hourly"
    __table_args__ = (Index("ix_rollup_hourly_tenant_id_metric_bucket", "tenant_id", "metric", "bucket"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total_milli: Mapped[int] = mapped_column(BigInteger)
    peak: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)


class RollupDaily(Base):
    """The same metrics over one calendar day of the site's local time (23 or 25 hours on DST days)."""

    __tablename__ = "rollup_daily"
    __table_args__ = (Index("ix_rollup_daily_tenant_id_scope_metric_day", "tenant_id", "scope", "metric", "day"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total_milli: Mapped[int] = mapped_column(BigInteger)
    peak: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)


class AlarmState(Base):
    """One door alarm of a site as HQ knows it (from the alarm's raised/acknowledged/cleared records).

    Every column is order-independent (first raise, first acknowledgement, last clear), so late and out-of-order
    records give the same state. HQ may acknowledge an alarm in the portal too (`hq_acknowledged_*`).
    """

    __tablename__ = "alarm_state"
    __table_args__ = (Index("ix_alarm_state_tenant_id_acknowledged_at", "tenant_id", "acknowledged_at"),)

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alarm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    door_id: Mapped[str] = mapped_column(String(64))
    alarm: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hq_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hq_acknowledged_by: Mapped[str | None] = mapped_column(String(320), nullable=True)


class DeviceState(Base):
    """A device's health as of its newest records: online, firmware, last seen, battery."""

    __tablename__ = "device_state"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    online: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    firmware: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    battery: Mapped[float | None] = mapped_column(Float, nullable=True)
    battery_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OccupancyNow(Base):
    """The camera's own latest count per category: occupancy re-anchored by every count record (never negative)."""

    __tablename__ = "occupancy_now"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())


class SiteWatermark(Base):
    """Up to when a site's records are all in ("complete up to"): later buckets may still be filling."""

    __tablename__ = "site_watermark"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    complete_up_to: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SiteIngestDaily(Base):
    """Records ingested per site per UTC day of receipt (what billing counts); replays are not counted."""

    __tablename__ = "site_ingest_daily"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    records: Mapped[int] = mapped_column(BigInteger)
